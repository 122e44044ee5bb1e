// Several replicas of the built command on one config: the cluster under test,
// each a separate process a test can scrape, kill or start with its clock off.
import { setTimeout as sleep } from 'node:timers/promises';
import { startCommand, type RunningCommand } from './command.ts';
import { find, parseExposition } from './exposition.ts';
import { freePort } from './ports.ts';
import type { ServerProcess } from './server-process.ts';

/** Environment for one replica: a record per index, or a function of the index. */
export type PerReplicaEnv = ReadonlyArray<Record<string, string> | undefined> | ((index: number) => Record<string, string> | undefined);

/** Options for {@link startReplicas} and {@link startReplica}. */
export interface ReplicaOptions {
  /** Added to every replica's environment (after the defaults). */
  env?: Record<string, string>;
  /** Added to replica i's environment after `env`; see {@link clockOffsetEnv}. */
  perReplicaEnv?: PerReplicaEnv;
}

/** The body of GET /healthz, with its HTTP status (503 when a critical platform is down). */
export interface Healthz {
  status: number;
  body: Record<string, unknown>;
}

/** One running replica; see {@link startReplica}. */
export interface Replica {
  readonly index: number;
  /** `replica-<index>`: its `service.instance.id`, through OTEL_RESOURCE_ATTRIBUTES. */
  readonly instanceId: string;
  /** `http://127.0.0.1:port/metrics`, its own port. */
  readonly metricsUrl: string;
  /** The process: `pid`, `exited()`, `logs()`, and `waitFor` (which fails at once if it dies). */
  readonly process: ServerProcess;
  /** GET /metrics: the exposition text. */
  scrape(): Promise<string>;
  /** One sample's value from a fresh scrape; see {@link metricValue}. */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** GET /healthz, parsed. */
  healthz(): Promise<Healthz>;
  /** Its JSON log lines so far, parsed. */
  logLines(): Record<string, unknown>[];
  /**
   * Sends `signal` and waits for the exit (SIGKILL after 15 s as a last
   * resort for a SIGTERM that does not end it), then removes its config.
   */
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** SIGTERM and wait; idempotent, also after kill(). */
  stop(): Promise<void>;
}

/** The replicas of one cluster; see {@link startReplicas}. */
export interface Replicas {
  readonly replicas: readonly Replica[];
  /** Stops every replica still running, in parallel. Idempotent. */
  stopAll(): Promise<void>;
}

// A file URL: percent-encoded, so NODE_OPTIONS's word splitting cannot cut it.
const CLOCK_OFFSET = new URL('./clock-offset.ts', import.meta.url).href;
const HTTP_TIMEOUT_MS = 5_000;

/**
 * Environment that starts a replica with its wall clock `offsetMs` off
 * (negative: behind), through NODE_OPTIONS so that startCommand's spawn needs
 * no change; whatever NODE_OPTIONS the test process has is kept. For
 * `perReplicaEnv`, e.g. `[undefined, clockOffsetEnv(30_000)]`.
 */
export function clockOffsetEnv(offsetMs: number): Record<string, string> {
  const inherited = process.env.NODE_OPTIONS ?? '';
  return { NODE_OPTIONS: `${inherited} --import=${CLOCK_OFFSET}`.trim(), CLOCK_OFFSET_MS: String(offsetMs) };
}

/**
 * Starts `count` replicas of the built command on `config` (YAML or JSON
 * text, each its own copy), in parallel, named replica-0 … replica-<count-1>.
 * If one fails to start, the others are stopped and the error is thrown.
 */
export async function startReplicas(count: number, config: string, options: ReplicaOptions = {}): Promise<Replicas> {
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startReplica(i, config, options)));
  const replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopping ??= Promise.all(replicas.map((r) => r.stop())).then(() => undefined);
    return stopping;
  };
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  return { replicas, stopAll };
}

/**
 * Starts replica `index` on `config`: `/metrics` on a port of its own,
 * `service.instance.id=replica-<index>` prepended to any OTEL_RESOURCE_ATTRIBUTES
 * given, then `options.env` and its entry of `options.perReplicaEnv`. Also for
 * a replica that joins later, or one started again after a kill.
 */
export async function startReplica(index: number, config: string, { env = {}, perReplicaEnv }: ReplicaOptions = {}): Promise<Replica> {
  const instanceId = `replica-${index}`;
  const own = (typeof perReplicaEnv === 'function' ? perReplicaEnv(index) : perReplicaEnv?.[index]) ?? {};
  const attributes = [`service.instance.id=${instanceId}`, env.OTEL_RESOURCE_ATTRIBUTES, own.OTEL_RESOURCE_ATTRIBUTES].filter(Boolean).join(',');
  let command: RunningCommand;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      command = await startCommand(config, { OTEL_EXPORTER_PROMETHEUS_PORT: String(port), ...env, ...own, OTEL_RESOURCE_ATTRIBUTES: attributes });
      break;
    } catch (error) {
      // The port found free can be taken before the replica binds it.
      if (attempt < 3 && /EADDRINUSE|address already in use/i.test(String(error))) continue;
      throw error;
    }
  }
  const { metricsUrl, process: child } = command;
  const origin = new URL(metricsUrl).origin;
  const get = async (path: string): Promise<Response> => fetch(`${origin}${path}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const scrape = async (): Promise<string> => {
    const res = await get(new URL(metricsUrl).pathname);
    const text = await res.text();
    if (!res.ok) throw new Error(`${instanceId}: GET /metrics answered ${res.status}: ${text.slice(0, 200)}`);
    return text;
  };
  return {
    index,
    instanceId,
    metricsUrl,
    process: child,
    scrape,
    metric: async (name, labels) => metricValue(await scrape(), name, labels),
    async healthz() {
      const res = await get('/healthz');
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    logLines: command.logLines,
    async kill(signal) {
      if (!child.exited()) process.kill(child.pid, signal);
      for (const deadline = performance.now() + 15_000; !child.exited() && performance.now() < deadline; ) await sleep(20);
      if (!child.exited()) process.kill(child.pid, 'SIGKILL');
      await command.stop();
    },
    stop: command.stop,
  };
}

/**
 * The value of the one sample of `name` whose labels include `labels`, in
 * exposition `text`; undefined when there is none. Throws when several match
 * (say more labels, or use {@link metricSum}), so a test never reads the
 * wrong series by accident.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const samples = find(parseExposition(text), name, labels);
  if (samples.length > 1) {
    throw new Error(`${name}${JSON.stringify(labels)}: ${samples.length} samples match, e.g. ${samples.slice(0, 3).map((s) => JSON.stringify(s.labels)).join(' ')}`);
  }
  return samples[0] === undefined ? undefined : sampleNumber(samples[0].value);
}

/** The sum of every sample of `name` whose labels include `labels` (0 when none), e.g. checks over all platforms. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  return find(parseExposition(text), name, labels).reduce((sum, s) => sum + sampleNumber(s.value), 0);
}

/** The text format writes infinities as +Inf and -Inf, which Number() does not read. */
function sampleNumber(value: string): number {
  return value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value);
}
