import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { MAX_PLATFORM_NAME_LENGTH, MAX_TIMER_MS, describeValue } from './config.ts';
import { BREAKER_SETTINGS, BREAKER_SETTING_KEYS, type BreakerSettings } from './options.ts';
import { fieldMeta, inner } from './option-schema.ts';
import { maskSecrets } from './text.ts';

// setTimeout turns longer delays into 1 ms; the monitor and the breaker refuse them.

/** One target of a config file: a platform and its built-in check. */
export type TargetConfig = {
  name: string;
  intervalMs?: number;
  timeoutMs?: number;
  breaker?: BreakerOverrides;
  /** Its open breaker makes the command not ready and its report unhealthy. */
  critical?: boolean;
} & (
  | { type: 'http'; url: string; expectStatus: { min: number; max: number }; bodyMatch?: string; maxBodyBytes?: number }
  | { type: 'tcp'; host: string; port: number }
);

type BreakerOverrides = BreakerSettings;

/** Bounds of what a config file may ask for. */
export const CONFIG_FILE_DEFAULTS = Object.freeze({
  /** Largest config file read: ~25,000 targets of ~150 bytes; a larger file is refused unread. */
  maxBytes: 4 * 1024 * 1024,
  /** `telemetry.maxPlatforms` when the file does not set it: what the metric limits are sized for. */
  maxPlatforms: 10_000,
});

/** What `conductor-health run --config FILE` reads. */
export interface CommandConfig {
  monitor: { intervalMs?: number; timeoutMs?: number; staggerMs?: number; maxConcurrent?: number };
  breaker: BreakerOverrides;
  /** `false` turns degraded mode off. */
  resources: false | { threshold?: number; recoverBelow?: number; path?: string };
  /** `maxPlatforms` is always set: the default when the file leaves it out. */
  telemetry: { serviceName?: string; prometheusHost?: string; prometheusPort?: number; successSpanRatio?: number; maxPlatforms: number };
  targets: TargetConfig[];
}

/** A config file problem: names the file, the path inside it and what is wrong. */
export class ConfigFileError extends Error {
  readonly file: string;
  /** Where in the file, e.g. `targets[2].url`; empty for the whole file. */
  readonly path: string;
  constructor(file: string, path: string, problem: string) {
    // A URL quoted in the problem (or in a YAML error's excerpt of the line) shows no password.
    super(`${file}: ${path ? `${path}: ` : ''}${maskSecrets(problem)}`);
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
  return new Reader(file).config(value);
}

/** Walks the parsed value, keeping the path for error messages. */
class Reader {
  readonly #file: string;
  constructor(file: string) {
    this.#file = file;
  }

  config(root: unknown): CommandConfig {
    const top = this.#object(root, '', ['monitor', 'breaker', 'resources', 'telemetry', 'targets']);
    const monitor = this.#object(top.monitor ?? {}, 'monitor', ['intervalMs', 'timeoutMs', 'staggerMs', 'maxConcurrent']);
    const telemetry = this.#object(top.telemetry ?? {}, 'telemetry', ['serviceName', 'prometheusHost', 'prometheusPort', 'successSpanRatio', 'maxPlatforms']);
    const { maxPlatforms = CONFIG_FILE_DEFAULTS.maxPlatforms } = this.#number(telemetry, 'telemetry', 'maxPlatforms', { min: 1, integer: true });
    const targetsValue = top.targets;
    if (!Array.isArray(targetsValue) || targetsValue.length === 0) {
      this.#fail('targets', `must be a non-empty list of targets, got ${describeValue(targetsValue)}`);
    }
    const targets = targetsValue.map((t, i) => this.#target(t, `targets[${i}]`));
    const seen = new Set<string>();
    targets.forEach((t, i) => {
      if (seen.has(t.name)) this.#fail(`targets[${i}].name`, `duplicate target name ${describeValue(t.name)}`);
      seen.add(t.name);
    });
    // Past it series overflow and /metrics grows past what a scrape can fetch in time.
    if (targets.length > maxPlatforms) {
      this.#fail('targets', `${targets.length} targets are more than telemetry.maxPlatforms (${maxPlatforms}), which sizes the metrics; raise telemetry.maxPlatforms`);
    }
    return {
      monitor: {
        ...this.#number(monitor, 'monitor', 'intervalMs', { min: 1 }),
        ...this.#number(monitor, 'monitor', 'timeoutMs', { min: 1, max: MAX_TIMER_MS }),
        ...this.#number(monitor, 'monitor', 'staggerMs', { min: 0 }),
        ...this.#number(monitor, 'monitor', 'maxConcurrent', { min: 1, integer: true }),
      },
      breaker: this.#breaker(top.breaker, 'breaker'),
      resources: this.#resources(top.resources),
      telemetry: {
        ...this.#string(telemetry, 'telemetry', 'serviceName'),
        ...this.#string(telemetry, 'telemetry', 'prometheusHost'),
        ...this.#number(telemetry, 'telemetry', 'prometheusPort', { min: 0, max: 65535, integer: true }),
        ...this.#number(telemetry, 'telemetry', 'successSpanRatio', { min: 0, max: 1 }),
        maxPlatforms,
      },
      targets,
    };
  }

  #target(value: unknown, path: string): TargetConfig {
    const common = ['name', 'type', 'intervalMs', 'timeoutMs', 'breaker', 'critical'];
    const loose = this.#object(value, path, null);
    const type = loose.type;
    if (type !== 'http' && type !== 'tcp') this.#fail(`${path}.type`, `must be "http" or "tcp", got ${describeValue(type)}`);
    const t = this.#object(value, path, type === 'http' ? [...common, 'url', 'expectStatus', 'bodyMatch', 'maxBodyBytes'] : [...common, 'host', 'port']);
    const name = this.#string(t, path, 'name').name;
    if (name === undefined) this.#fail(`${path}.name`, 'is required');
    if (name.length > MAX_PLATFORM_NAME_LENGTH) this.#fail(`${path}.name`, `must be at most ${MAX_PLATFORM_NAME_LENGTH} characters long, got ${describeValue(name)}`);
    if (!name.isWellFormed()) this.#fail(`${path}.name`, `must be well-formed Unicode (no lone surrogates), got ${describeValue(name)}`);
    const shared = {
      name,
      ...this.#number(t, path, 'intervalMs', { min: 1 }),
      ...this.#number(t, path, 'timeoutMs', { min: 1, max: MAX_TIMER_MS }),
      ...(t.breaker === undefined ? {} : { breaker: this.#breaker(t.breaker, `${path}.breaker`) }),
      ...this.#boolean(t, path, 'critical'),
    };
    if (type === 'tcp') {
      const host = this.#string(t, path, 'host').host;
      const port = this.#number(t, path, 'port', { min: 1, max: 65535, integer: true }).port;
      if (host === undefined) this.#fail(`${path}.host`, 'is required');
      if (port === undefined) this.#fail(`${path}.port`, 'is required');
      return { ...shared, type, host, port };
    }
    const url = this.#string(t, path, 'url').url;
    if (url === undefined) this.#fail(`${path}.url`, 'is required');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      this.#fail(`${path}.url`, `is not a valid URL: ${describeValue(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      this.#fail(`${path}.url`, `must be an http: or https: URL, got ${describeValue(url)}`);
    }
    const bodyMatch = this.#string(t, path, 'bodyMatch').bodyMatch;
    return {
      ...shared,
      type,
      url,
      expectStatus: this.#statusRange(t.expectStatus, `${path}.expectStatus`),
      ...(bodyMatch === undefined ? {} : { bodyMatch }),
      ...this.#number(t, path, 'maxBodyBytes', { min: 1, integer: true }),
    };
  }

  /** `200`, `"200-399"` or absent (200–299). */
  #statusRange(value: unknown, path: string): { min: number; max: number } {
    if (value === undefined) return { min: 200, max: 299 };
    const text = String(value);
    const match = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(text);
    const min = Number(match?.[1]);
    const max = Number(match?.[2] ?? match?.[1]);
    if (!match || (typeof value !== 'number' && typeof value !== 'string') || min < 100 || max > 599 || min > max) {
      this.#fail(path, `must be a status code or a range like "200-399", got ${describeValue(value)}`);
    }
    return { min, max };
  }

  #breaker(value: unknown, path: string): BreakerOverrides {
    const b = this.#object(value ?? {}, path, [...BREAKER_SETTING_KEYS]);
    return Object.assign({}, ...BREAKER_SETTING_KEYS.map((key) => this.#number(b, path, key, fieldMeta.get(inner(BREAKER_SETTINGS.shape[key]))!.range!))) as BreakerOverrides;
  }

  #resources(value: unknown): CommandConfig['resources'] {
    if (value === false) return false;
    const r = this.#object(value ?? {}, 'resources', ['threshold', 'recoverBelow', 'path']);
    const out = {
      ...this.#number(r, 'resources', 'threshold', { min: 0, max: 1 }),
      ...this.#number(r, 'resources', 'recoverBelow', { min: 0, max: 1 }),
      ...this.#string(r, 'resources', 'path'),
    };
    if (out.threshold !== undefined && out.threshold <= 0) this.#fail('resources.threshold', `must be above 0, got ${out.threshold}`);
    // The resource monitor's own rule (default threshold 0.8), checked here so the command never starts with it.
    if (out.recoverBelow !== undefined && out.recoverBelow >= (out.threshold ?? 0.8)) {
      this.#fail('resources.recoverBelow', `must be below the threshold ${out.threshold ?? 0.8}, got ${out.recoverBelow}`);
    }
    return out;
  }

  #object(value: unknown, path: string, keys: string[] | null): Record<string, unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.#fail(path, `must be a mapping, got ${describeValue(value)}`);
    }
    if (keys) {
      for (const key of Object.keys(value)) {
        if (!keys.includes(key)) this.#fail(join(path, key), `unknown key (expected one of ${keys.join(', ')})`);
      }
    }
    return value as Record<string, unknown>;
  }

  #number<K extends string>(
    obj: Record<string, unknown>,
    path: string,
    key: K,
    { min = -Infinity, max = Infinity, integer = false },
  ): { [P in K]?: number } {
    const value = obj[key];
    if (value === undefined) return {};
    const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value));
    if (!ok) {
      const range = `${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`;
      this.#fail(join(path, key), `must be ${integer ? 'an integer' : 'a number'}${range}, got ${describeValue(value)}`);
    }
    return { [key]: value } as { [P in K]?: number };
  }

  #boolean<K extends string>(obj: Record<string, unknown>, path: string, key: K): { [P in K]?: boolean } {
    const value = obj[key];
    if (value === undefined) return {};
    if (typeof value !== 'boolean') this.#fail(join(path, key), `must be true or false, got ${describeValue(value)}`);
    return { [key]: value } as { [P in K]?: boolean };
  }

  #string<K extends string>(obj: Record<string, unknown>, path: string, key: K): { [P in K]?: string } {
    const value = obj[key];
    if (value === undefined) return {};
    if (typeof value !== 'string' || value.trim() === '') this.#fail(join(path, key), `must be a non-empty string, got ${describeValue(value)}`);
    return { [key]: value } as { [P in K]?: string };
  }

  #fail(path: string, problem: string): never {
    throw new ConfigFileError(this.#file, path, problem);
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

