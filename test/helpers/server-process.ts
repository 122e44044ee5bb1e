import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

const LOG_LIMIT = 256 * 1024;
const POLL_MS = 100;

/** A long-running peer (Collector, Jaeger, Alertmanager) started by a test; see {@link spawnServer}. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  /** Its stdout and stderr so far (the last 256 KiB). */
  logs(): string;
  /** True once it has exited. */
  exited(): boolean;
  /**
   * Polls `probe` every 100 ms until it returns something other than undefined
   * and resolves with that; throws with the logs when the process dies first or
   * after `timeoutMs` (a bound for a broken run, not a timing assertion).
   */
  waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it is gone. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Spawns `binary args` with `env` added to the environment and output captured.
 * A missing binary is a clear error (tests fail, never skip; `notFound` says
 * what to install); a process left running by a failing test is killed when
 * the test process exits.
 */
export async function spawnServer(
  name: string,
  binary: string,
  args: string[],
  env: Record<string, string> = {},
  { cwd, notFound = `${name}: ${binary} not found (run .ci/peers.sh or .ci/run)` }: { cwd?: string; notFound?: string } = {},
): Promise<ServerProcess> {
  const child = spawn(binary, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  const append = (chunk: string): void => {
    log += chunk;
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  child.stdout.setEncoding('utf8').on('data', append);
  child.stderr.setEncoding('utf8').on('data', append);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(notFound) : error),
    );
  });
  child.on('error', (error) => append(`\n[test] ${name} process error: ${error.message}\n`));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref();
  (child.stderr as unknown as { unref(): void }).unref();

  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid: child.pid!,
    logs: () => log,
    exited,
    async waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      let lastError: unknown;
      for (;;) {
        if (exited()) throw new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) while waiting for ${what}; log:\n${log}`);
        try {
          const value = await probe();
          if (value !== undefined) return value;
        } catch (error) {
          lastError = error;
        }
        if (Date.now() > deadline) {
          throw new Error(`${name}: no ${what} after ${timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ''}; log:\n${log}`);
        }
        await sleep(POLL_MS);
      }
    },
    stop() {
      stopping ??= (async () => {
        if (!exited()) {
          child.kill('SIGTERM');
          if (!(await exitWithin(child, 10_000))) {
            child.kill('SIGKILL');
            await exitWithin(child, 5_000);
          }
        }
        process.removeListener('exit', killOnExit);
      })();
      return stopping;
    },
  };
}

/**
 * Resolves true once `child` has exited (at once if it already has), or false
 * after `ms`. The timer is cleared on exit: a pending 10 s timer would
 * otherwise keep the test process alive long after the test finished.
 */
export function exitWithin(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    child.once('exit', onExit);
  });
}
