import { spawn } from 'node:child_process';

/** Result of one `promtool` invocation. */
export interface PromtoolResult {
  /** Process exit code (for `check metrics`: 0 clean, 3 lint problems, 1 parse error). */
  code: number;
  /** stdout and stderr interleaved in arrival order; promtool reports findings on stderr. */
  output: string;
}

/** Options for {@link promtoolCheck}. */
export interface PromtoolOptions {
  /** Text piped to promtool's stdin (stdin is closed immediately when omitted). */
  stdin?: string;
  /** Working directory, e.g. so `test rules` resolves relative `rule_files`. */
  cwd?: string;
  /** Kill promtool after this long and reject; default 30 000 ms. */
  timeoutMs?: number;
}

const PROMTOOL = 'promtool';

/**
 * Runs `promtool <args...>` and resolves with its exit code and output.
 *
 * `args` are passed verbatim after the binary name, so this covers
 * `['check', 'config', file]`, `['check', 'rules', file]`, `['test', 'rules', file]`, ...
 * A non-zero exit code is a result, not an error: the caller asserts on it.
 * Rejects only if promtool is missing, is killed by a signal, or exceeds the timeout.
 */
export function promtoolCheck(args: string[], options: PromtoolOptions = {}): Promise<PromtoolResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, args, {
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));

    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`promtool ${args.join(' ')} timed out after ${timeoutMs} ms; output so far:\n${output}`));
    }, timeoutMs);

    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        err.code === 'ENOENT'
          ? new Error('promtool binary not found: install the Debian package `prometheus`')
          : err,
      );
    });
    // 'close' (not 'exit') so that all output has been read before resolving.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === null) {
        reject(new Error(`promtool ${args.join(' ')} killed by ${String(signal)}; output:\n${output}`));
      } else {
        resolve({ code, output });
      }
    });

    // promtool may exit (e.g. bad flags) before reading stdin; the resulting
    // EPIPE is irrelevant because the exit code already says what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(options.stdin ?? '');
  });
}

/**
 * Lints a Prometheus text exposition with `promtool check metrics` (text on stdin).
 *
 * Exit codes per promtool 2.42: 0 = clean, 3 = lint problems (e.g. a counter
 * without `_total`), 1 = the text could not be parsed. Findings are in `output`.
 */
export function promtoolCheckMetrics(text: string): Promise<PromtoolResult> {
  return promtoolCheck(['check', 'metrics'], { stdin: text });
}
