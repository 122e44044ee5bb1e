// The command as a child process, for the tests under test/cli.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The command's entry point, run from source. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const execFileAsync = promisify(execFile);

/** OTLP variables a developer may have set, cleared so they cannot leak into a run. */
const NO_OTLP = { OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', OTEL_EXPORTER_OTLP_HEADERS: '', OTEL_EXPORTER_OTLP_TRACES_HEADERS: '' };

/** Runs the command to its end (in `cwd`, if given); resolves with its exit status and stderr. */
export async function runCli(args: string[], env: Record<string, string> = {}, { cwd }: { cwd?: string } = {}): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await execFileAsync(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...NO_OTLP, ...env } });
    return { code: 0, stderr };
  } catch (error) {
    const { code, stderr } = error as { code: number; stderr: string };
    return { code, stderr };
  }
}

/** A running command; `exited` resolves with its status, or the name of the signal that killed it. */
export interface SpawnedCli {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output: () => string;
  exited: Promise<number | string | null>;
}

/** Spawns the command with `LOG_LEVEL=info` and output captured. */
export function spawnCli(args: string[], env: Record<string, string> = {}): SpawnedCli {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...NO_OTLP, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return { child, output: () => output, exited };
}

/** The JSON log lines of `output`, parsed; other lines are skipped. */
export function logLines(output: string): Array<Record<string, unknown> & { msg?: string }> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Polls `probe` every 100 ms until it returns a value, for at most `timeoutMs` (a bound for a broken run, not a timing assertion). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Waits until the command on `port` is ready and has counted a check of `platform`. */
export async function waitForChecks(port: number, platform: string): Promise<void> {
  await waitFor('/readyz', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined));
  await waitFor(`a counted check of ${platform}`, async () => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    return response.ok && new RegExp(`health_check_total\\{platform="${platform}"`).test(await response.text()) ? true : undefined;
  });
}
