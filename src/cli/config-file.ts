import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { describeValue } from '../common/validate.ts';
import { CONFIG_FILE, CONFIG_FILE_DEFAULTS, DEFAULT_THRESHOLD, type CommandConfig } from './config-schema.ts';
import { findProblem, formatPath } from '../common/option-schema.ts';
import { ConductorHealthError } from '../common/errors.ts';
import { maskSecrets } from '../common/text.ts';
import { envText } from '../common/env.ts';
import { CLUSTER_OPTIONS, REDIS_URL_ENV } from '../cluster/options.ts';

const CLUSTER_HEARTBEAT_DEFAULT = CLUSTER_OPTIONS.shape.heartbeatMs.def.defaultValue;


/** A config file problem: names the file, the path inside it and what is wrong. */
export class ConfigFileError extends ConductorHealthError {
  readonly file: string;
  /** Where in the file, e.g. `targets[2].url`; empty for the whole file. */
  readonly path: string;
  constructor(file: string, path: string, problem: string) {
    // A URL quoted in the problem (or in a YAML error's excerpt of the line) shows no password.
    super('ECONFIGFILE', `${file}: ${path ? `${path}: ` : ''}${maskSecrets(problem)}`);
    this.name = 'ConfigFileError';
    this.file = file;
    this.path = path;
  }
}

/**
 * Reads and validates a YAML or JSON config file. Unknown keys are errors.
 * Only a regular file of at most `maxBytes` is read: a device such as
 * `/dev/zero` or a named pipe is refused without reading (or waiting on) it.
 */
export async function loadConfigFile(file: string, { maxBytes = CONFIG_FILE_DEFAULTS.maxBytes }: { maxBytes?: number } = {}): Promise<CommandConfig> {
  let text: string;
  let handle;
  try {
    // O_NONBLOCK: opening a named pipe would otherwise wait for a writer.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const stats = await handle.stat();
    if (!stats.isFile()) throw new ConfigFileError(file, '', `is not a regular file (${fileKind(stats)})`);
    if (stats.size > maxBytes) throw new ConfigFileError(file, '', `is ${stats.size} bytes, more than the ${maxBytes} a config file may have`);
    // Read at most one byte past the bound: the file may have grown since the stat.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) {
      ({ bytesRead: n } = await handle.read(buffer, length, buffer.length - length, length));
    }
    if (length > maxBytes) throw new ConfigFileError(file, '', `is more than the ${maxBytes} bytes a config file may have`);
    text = buffer.toString('utf8', 0, length);
  } catch (error) {
    if (error instanceof ConfigFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigFileError(file, '', code === 'ENOENT' ? 'no such file' : `cannot read: ${(error as Error).message}`);
  } finally {
    await handle?.close();
  }
  return parseConfig(text, file);
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  return 'not a file';
}

/** Validates config text (YAML, of which JSON is a subset); `file` names it in errors. */
export function parseConfig(text: string, file: string): CommandConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  const [first] = doc.errors;
  if (first) {
    const where = first.linePos?.[0] ? `line ${first.linePos[0].line}, column ${first.linePos[0].col}: ` : '';
    // The message's first line, without the " at line …" the position already says.
    const problem = first.message.split('\n', 1)[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigFileError(file, '', `invalid YAML/JSON: ${where}${problem}`);
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (error) {
    // An alias bomb or an alias to no anchor: the parser throws a plain ReferenceError.
    throw new ConfigFileError(file, '', `invalid YAML/JSON: ${String((error as Error).message).split('\n', 1)[0]}`);
  }
  return readConfig(value, file);
}

/** Checks the parsed file against the schema, then what spans several fields. */
function readConfig(value: unknown, file: string): CommandConfig {
  const found = findProblem(CONFIG_FILE, value);
  if ('problem' in found) {
    const { problem } = found;
    if (problem.kind === 'unknown') {
      const hint = problem.closest === undefined ? `expected one of ${problem.known.join(', ')}` : `did you mean "${problem.closest}"?`;
      throw new ConfigFileError(file, formatPath([...problem.path, problem.key]), `unknown key; ${hint}`);
    }
    // A file's objects are YAML mappings.
    const expected = problem.expected === 'an object' ? 'a mapping' : problem.expected;
    throw new ConfigFileError(file, formatPath(problem.path), `must be ${expected}, got ${describeValue(problem.value)}`);
  }
  const config = found.data;
  const seen = new Set<string>();
  config.targets.forEach((t, i) => {
    if (seen.has(t.name)) throw new ConfigFileError(file, `targets[${i}].name`, `duplicate target name ${describeValue(t.name)}`);
    seen.add(t.name);
  });
  // Past it series overflow and /metrics grows past what a scrape can fetch in time.
  const { maxPlatforms } = config.telemetry;
  if (config.targets.length > maxPlatforms) {
    throw new ConfigFileError(file, 'targets', `${config.targets.length} targets are more than telemetry.maxPlatforms (${maxPlatforms}), which sizes the metrics; raise telemetry.maxPlatforms`);
  }
  // The cluster's own rules, checked here so the command never starts with them.
  const { cluster } = config;
  if (cluster !== undefined && cluster.redisUrl === undefined && envText(REDIS_URL_ENV) === undefined) {
    throw new ConfigFileError(file, 'cluster.redisUrl', `is missing: give the Redis the replicas share (redis://host:6379), or set ${REDIS_URL_ENV}`);
  }
  if (cluster?.memberTtlMs !== undefined && cluster.memberTtlMs <= (cluster.heartbeatMs ?? CLUSTER_HEARTBEAT_DEFAULT)) {
    throw new ConfigFileError(file, 'cluster.memberTtlMs', `must be more than cluster.heartbeatMs (${cluster.heartbeatMs ?? CLUSTER_HEARTBEAT_DEFAULT}), got ${cluster.memberTtlMs}: a replica would expire between two heartbeats`);
  }
  // The resource monitor's own rule, checked here so the command never starts with it.
  const { resources } = config;
  const threshold = resources === false ? 1 : (resources.threshold ?? DEFAULT_THRESHOLD);
  if (resources !== false && resources.recoverBelow !== undefined && resources.recoverBelow >= threshold) {
    throw new ConfigFileError(file, 'resources.recoverBelow', `must be below the threshold ${threshold}, got ${resources.recoverBelow}`);
  }
  return config;
}
