import { spawn } from 'node:child_process';

/** How a child Node process ended. */
export interface ChildRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** False when the safety timer had to kill it: something kept it alive. */
  exitedByItself: boolean;
}

/**
 * Runs `node [nodeArgs] script [args]` to its end and collects its output.
 * `safetyMs` is a last resort that kills a process which would otherwise hang
 * the suite; a test asserts `exitedByItself`, never the time it took. OTLP
 * variables are cleared so a developer's environment cannot leak in.
 */
export function runNode(
  script: string,
  { args = [], nodeArgs = [], env = {}, safetyMs = 30_000 }: { args?: string[]; nodeArgs?: string[]; env?: Record<string, string>; safetyMs?: number } = {},
): Promise<ChildRun> {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  let exitedByItself = true;
  const safety = setTimeout(() => {
    exitedByItself = false;
    child.kill('SIGKILL');
  }, safetyMs);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(safety);
      resolve({ code, stdout, stderr, exitedByItself });
    }),
  );
}
