import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';
import { spawnServer } from './server-process.ts';

/** Options for {@link startPrometheus}. */
export interface StartPrometheusOptions {
  /** Scrape targets as `host:port`, e.g. `"127.0.0.1:9464"` (path is always `/metrics`). */
  targets: string[];
  /** Global scrape and rule-evaluation interval; default 1000 ms. scrape_timeout is set equal to it. */
  scrapeIntervalMs?: number;
  /** `job_name` of the single scrape config; default `"conductor-health"`. */
  jobName?: string;
  /** Rule files to load (resolved to absolute paths, since Prometheus resolves relative ones against the temp config dir). */
  ruleFiles?: string[];
  /** Alertmanagers (`host:port`) that firing and resolved alerts are sent to. */
  alertmanagers?: string[];
}

/** One element of an instant-vector query result, as returned by /api/v1/query. */
export interface PromSample {
  metric: Record<string, string>;
  /** `[unix seconds, value as string]` — Prometheus sends values as strings (NaN, +Inf...). */
  value: [number, string];
}

/** An entry of /api/v1/targets `activeTargets`. */
export interface PromTarget {
  scrapeUrl: string;
  /** "up", "down" or "unknown" (not scraped yet). */
  health: string;
  lastError: string;
  labels: Record<string, string>;
}

/** A running Prometheus server; see {@link startPrometheus}. */
export interface PrometheusHandle {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  /** OS process id (to assert it is gone after stop()). */
  readonly pid: number;
  /** The temp dir holding prometheus.yml and data/ (removed by stop()). */
  readonly dir: string;
  /** Captured stdout+stderr of the process (last 256 KiB). */
  logs(): string;
  /**
   * Instant query via /api/v1/query. Scalar/string results are returned as a
   * single sample with an empty label set. Throws with Prometheus's own error
   * text on a bad query, and on range-vector (matrix) results.
   */
  query(promql: string): Promise<PromSample[]>;
  /**
   * Polls /api/v1/targets every 200 ms until every configured target is active
   * and has health "up"; resolves with the active targets. The first scrape of
   * a fresh server takes ~5-6 s (Prometheus batches discovery updates every 5 s).
   * On timeout (default 30 000 ms) throws with each target's lastError and the log.
   */
  waitForTargetsUp(timeoutMs?: number): Promise<PromTarget[]>;
  /**
   * Polls `query(promql)` every 200 ms until `predicate(result)` is true and
   * resolves with that result. Query errors propagate immediately (waiting won't
   * fix bad PromQL). On timeout (default 30 000 ms) throws with the last result.
   */
  waitForQuery(
    promql: string,
    predicate: (result: PromSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<PromSample[]>;
  /** SIGTERM, wait ≤ 10 s, SIGKILL fallback, then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const BINARY = 'prometheus';
const POLL_MS = 200;

function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`scrapeIntervalMs must be a positive integer, got ${ms}`);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Starts a real Prometheus server (the Debian `prometheus` binary) scraping
 * `targets`, with config and TSDB in a fresh temp dir, listening on a free
 * 127.0.0.1 port, and resolves once `/-/ready` answers 200.
 *
 * Always `stop()` it (e.g. in `t.after`). As a last resort the process is
 * SIGKILLed when the Node process exits, and the child is unref'd so a
 * forgotten handle cannot keep the test process alive.
 *
 * @throws "prometheus binary not found: install the Debian package `prometheus`"
 *   when the binary is missing — tests must fail, not skip.
 */
export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusHandle> {
  const intervalMs = options.scrapeIntervalMs ?? 1000;
  const interval = formatDuration(intervalMs);
  const dir = await mkdtemp(join(tmpdir(), 'conductor-health-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  // JSON is valid YAML, and JSON.stringify gets quoting of arbitrary strings right.
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: (options.ruleFiles ?? []).map((f) => resolvePath(f)),
    ...(options.alertmanagers ? { alerting: { alertmanagers: [{ static_configs: [{ targets: options.alertmanagers }] }] } } : {}),
    scrape_configs: [
      {
        job_name: options.jobName ?? 'conductor-health',
        static_configs: [{ targets: options.targets }],
      },
    ],
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));

  // The port can be taken between freePort() and Prometheus binding it; retry then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(dir, configFile, options.targets.length);
    } catch (err) {
      if (attempt < 3 && err instanceof PortInUseError) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
}

class PortInUseError extends Error {}

async function launch(dir: string, configFile: string, targetCount: number): Promise<PrometheusHandle> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await spawnServer(
    'prometheus',
    BINARY,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    {},
    { cwd: dir, notFound: 'prometheus binary not found: install the Debian package `prometheus`' },
  );
  const { pid } = server;
  // Last resort: a failing test that never calls stop() must not leave its data behind.
  const removeDir = (): void => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  };
  process.once('exit', removeDir);
  const exited = (): boolean => server.exited();
  const died = (what: string): Error => new Error(`prometheus exited ${what}; log:\n${server.logs()}`);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= server.stop().then(() => {
      process.removeListener('exit', removeDir);
      return rm(dir, { recursive: true, force: true, maxRetries: 3 });
    });
    return stopping;
  };

  // Ready once the TSDB is open and the web handler up; a port taken meanwhile is retried by the caller, in the same dir.
  try {
    await server.waitFor('ready', async () => {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return res.ok ? true : undefined;
    });
  } catch (error) {
    await server.stop();
    process.removeListener('exit', removeDir);
    if (/address already in use/i.test(server.logs())) throw new PortInUseError(`port ${port} in use`);
    throw error;
  }

  const api = async (path: string): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw exited() ? died(`during GET ${path}`) : err;
    }
    const text = await res.text();
    let body: { status?: string; errorType?: string; error?: string; data?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new Error(`prometheus GET ${path}: HTTP ${res.status}, non-JSON body: ${text.slice(0, 500)}`);
    }
    if (body.status !== 'success') {
      throw new Error(`prometheus GET ${path} failed (HTTP ${res.status}, ${body.errorType}): ${body.error}`);
    }
    return body.data;
  };

  const query = async (promql: string): Promise<PromSample[]> => {
    let data: { resultType: string; result: unknown };
    try {
      data = (await api(`/api/v1/query?query=${encodeURIComponent(promql)}`)) as typeof data;
    } catch (err) {
      throw new Error(`query ${JSON.stringify(promql)}: ${errorMessage(err)}`);
    }
    switch (data.resultType) {
      case 'vector':
        return data.result as PromSample[];
      case 'scalar':
      case 'string':
        return [{ metric: {}, value: data.result as [number, string] }];
      default:
        throw new Error(
          `query ${JSON.stringify(promql)} returned a ${data.resultType}; use an instant-vector or scalar expression`,
        );
    }
  };

  const waitForTargetsUp = async (timeoutMs = 30_000): Promise<PromTarget[]> => {
    const deadline = Date.now() + timeoutMs;
    let targets: PromTarget[] = [];
    for (;;) {
      if (exited()) throw died('while waiting for targets');
      const data = (await api('/api/v1/targets?state=active')) as { activeTargets?: PromTarget[] };
      targets = data.activeTargets ?? [];
      // Before the first discovery sync the list is empty, so also check the count.
      if (targets.length >= targetCount && targets.every((t) => t.health === 'up')) return targets;
      if (Date.now() > deadline) {
        const detail = targets.length
          ? targets.map((t) => `  ${t.scrapeUrl}: ${t.health}${t.lastError ? ` (lastError: ${t.lastError})` : ''}`)
          : ['  (no active targets yet: service discovery has not synced)'];
        throw new Error(
          `prometheus targets not all up after ${timeoutMs} ms:\n${detail.join('\n')}\nprometheus log:\n${server.logs()}`,
        );
      }
      await sleep(POLL_MS);
    }
  };

  const waitForQuery = async (
    promql: string,
    predicate: (result: PromSample[]) => boolean,
    timeoutMs = 30_000,
  ): Promise<PromSample[]> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await query(promql);
      if (predicate(result)) return result;
      if (Date.now() > deadline) {
        throw new Error(
          `waitForQuery ${JSON.stringify(promql)}: predicate not satisfied after ${timeoutMs} ms; ` +
            `last result: ${JSON.stringify(result)}`,
        );
      }
      await sleep(POLL_MS);
    }
  };

  return { url, pid, dir, logs: () => server.logs(), query, waitForTargetsUp, waitForQuery, stop };
}
