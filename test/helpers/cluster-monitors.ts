// Monitors of one cluster in this process, each with its own connections and
// replica id, as replicas would be (the tests with separate processes use
// replicas.ts): for the tests that attack the shared state from inside.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthMonitor } from '../../src/index.ts';
import { recordingLogger } from './logger.ts';

/** Polls `read` until `ok` holds, for at most `ms`; answers the last value read. */
export async function until<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, ms = 3_000): Promise<T> {
  const deadline = performance.now() + ms;
  let value = await read();
  while (!ok(value) && performance.now() < deadline) {
    await sleep(10);
    value = await read();
  }
  return value;
}

/** A function that fails as a platform that is down does. */
export const fail = (): Promise<never> => Promise.reject(new Error('platform down'));

export interface ReplicaOptions {
  prefix: string;
  /** The Redis URL (the suite's by default). */
  url?: string;
  intervalMs?: number;
  resetTimeoutMs?: number;
  maxResetTimeoutMs?: number;
  minReplicas?: number;
  heartbeatMs?: number;
  commandTimeoutMs?: number;
  /** Called for each scheduled check of `platform` on this replica. */
  onCheck?: (platform: string) => void;
}

/** Starts monitors against the Redis at `redisUrl`, and stops every one it started. */
export function clusterMonitors(redisUrl: () => string) {
  const started: HealthMonitor[] = [];
  /** A started monitor with replica id `id` (undefined: the process's service.instance.id), `platforms` registered, each check true. */
  function replica(id: string | undefined, platforms: readonly string[], o: ReplicaOptions) {
    const logger = recordingLogger();
    const monitor = new HealthMonitor({
      resources: false,
      intervalMs: o.intervalMs ?? 3_600_000,
      logger,
      breaker: { resetTimeoutMs: o.resetTimeoutMs ?? 60_000, ...(o.maxResetTimeoutMs === undefined ? {} : { maxResetTimeoutMs: o.maxResetTimeoutMs }) },
      cluster: {
        redisUrl: o.url ?? redisUrl(),
        ...(id === undefined ? {} : { instanceId: id }),
        keyPrefix: o.prefix,
        heartbeatMs: o.heartbeatMs ?? 100,
        minReplicas: o.minReplicas ?? 1,
        commandTimeoutMs: o.commandTimeoutMs ?? 500,
      },
    });
    for (const p of platforms) {
      monitor.register(p, () => {
        o.onCheck?.(p);
        return true;
      });
    }
    monitor.start();
    started.push(monitor);
    return { monitor, logger };
  }
  /** Members each monitor sees; 0 while it is in local mode (it then sees itself alone). */
  const membersOf = (ms: readonly HealthMonitor[]) => ms.map((m) => (m.report().cluster?.localMode === false ? m.report().cluster!.members.length : 0));
  /** Waits until each monitor has joined (out of local mode) and sees `count` members. */
  async function joined(ms: readonly HealthMonitor[], count = ms.length): Promise<void> {
    assert.deepEqual(await until(() => membersOf(ms), (c) => c.every((x) => x === count)), ms.map(() => count), 'every replica sees the members');
  }
  return {
    replica,
    joined,
    stateOf: (m: HealthMonitor, p: string) => m.getBreaker(p)!.getState().state,
    stopAll: (ms: readonly HealthMonitor[]) => Promise.all(ms.map((m) => m.stop())),
    /** Stops every monitor started. */
    stopStarted: () => Promise.all(started.map((m) => m.stop())),
  };
}
