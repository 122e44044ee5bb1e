import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnServer, type ServerProcess } from './server-process.ts';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The built command (`node dist/cli/main.js run`) running a config; see {@link startCommand}. */
export interface RunningCommand {
  readonly process: ServerProcess;
  /** `http://127.0.0.1:port/metrics`, from its start-up log line. */
  readonly metricsUrl: string;
  /** Its JSON log lines so far, parsed. */
  logLines(): Record<string, unknown>[];
  /** SIGTERM (flushes spans within its shutdown bound) and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Writes `config` (YAML or JSON text) to a temp file and runs the built command
 * on it with JSON logs, `/metrics` on a free port and `env` added (OTLP
 * variables not given are cleared, so the developer's own cannot leak in).
 */
export async function startCommand(config: string, env: Record<string, string> = {}): Promise<RunningCommand> {
  const dir = await mkdtemp(join(tmpdir(), 'conductor-health-command-'));
  const file = join(dir, 'config.yaml');
  await writeFile(file, config);
  const server = await spawnServer('conductor-health', process.execPath, [CLI, 'run', '--config', file, '--json-logs'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: '',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    LOG_LEVEL: 'info',
    ...env,
  });
  const logLines = (): Record<string, unknown>[] =>
    server
      .logs()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const stop = async (): Promise<void> => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const metricsUrl = await server.waitFor('start-up log line', async () => {
      const line = logLines().find((l) => l.msg === 'conductor-health running');
      return line ? String(line.metrics) : undefined;
    });
    return { process: server, metricsUrl, logLines, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
