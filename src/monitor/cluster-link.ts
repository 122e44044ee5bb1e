/**
 * The monitor's side of a cluster of replicas (cluster/): which scheduled
 * slots this replica runs, which breakers it shares, and what its report
 * says of the others. The cluster itself is `import()`ed on start, so a
 * monitor without one never loads a Redis client; until it has joined, this
 * replica checks every platform, as it would alone.
 */
import type * as z from 'zod';
import type { Cluster } from '../cluster/cluster.ts';
import { clusterSettings, maskRedisUrl, replicaIdFrom, type CLUSTER_SECTION, type ClusterSettings } from '../cluster/options.ts';
import { instanceId } from '../common/instance-id.ts';
import type { Logger } from '../common/logger.ts';
import { shortMessage } from '../core/failure.ts';
import type { HealthMetrics } from '../core/metrics.ts';
import type { RunnerCluster } from './check-runner.ts';
import type { DispatchTargets } from './dispatcher.ts';
import type { Platform } from './platform-registry.ts';
import type { ClusterReport, HealthCheckResult, PlatformReport } from './report.ts';

/** What a link works with. */
export interface LinkSettings {
  readonly logger: Logger;
  readonly metrics: HealthMetrics;
  /** The interval factor in force now (degraded mode stretches intervals), shared with each check so a backup waits for the right one. */
  readonly intervalFactor: () => number;
}

export class ClusterLink implements RunnerCluster {
  /** This replica's id: the cluster's member name and the check spans' `service.instance.id`. */
  readonly replica: string;
  readonly #settings: ClusterSettings;
  readonly #link: LinkSettings;
  /** The platforms tracked, with their check's interval and timeout, for a cluster loaded after they registered. */
  readonly #tracked = new Map<string, { entry: Platform; intervalMs: number; timeoutMs: number }>();
  #cluster: Cluster | undefined;
  #loading: Promise<void> | undefined;
  #stopped = false;

  /** The link for a monitor's `cluster` option (or `CONDUCTOR_HEALTH_REDIS_URL`); undefined when it has none. Throws for a bad one. */
  static create(section: z.output<typeof CLUSTER_SECTION> | undefined, link: LinkSettings): ClusterLink | undefined {
    const settings = clusterSettings(section);
    return settings && new ClusterLink(settings, link);
  }

  constructor(settings: ClusterSettings, link: LinkSettings) {
    this.#settings = settings;
    this.#link = link;
    // An id set by OTEL_RESOURCE_ATTRIBUTES may hold characters a replica id does not allow.
    this.replica = settings.instanceId ?? replicaIdFrom(instanceId());
  }

  /** `targets` narrowed to the platforms this replica is to check now; a slot of another replica's platform is not a skip, just not ours. */
  gate(targets: DispatchTargets<Platform>): DispatchTargets<Platform> {
    return {
      lookup: (key) => (this.#cluster === undefined || this.#cluster.checksHere(key) ? targets.lookup(key) : undefined),
      isCurrent: (entry) => targets.isCurrent(entry),
    };
  }

  /** Loads the cluster and joins it; returns at once. A load that fails is logged, and this replica runs alone. */
  start(readMs: number): void {
    this.#loading ??= import('../cluster/cluster.ts').then(
      ({ Cluster }) => {
        if (this.#stopped) return;
        const cluster = new Cluster(this.#settings, this.replica, this.#link.logger, this.#link.metrics);
        for (const [name, { entry, intervalMs, timeoutMs }] of this.#tracked) cluster.track(name, entry.breaker, intervalMs, timeoutMs);
        cluster.start(readMs);
        this.#cluster = cluster;
      },
      (error: unknown) => this.#link.logger.error({ error: shortMessage(error) }, 'conductor-health cluster: could not be loaded; this replica checks every platform alone'),
    );
  }

  /** Leaves the cluster (its last checks sent, each step bounded by the command timeout); never rejects. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loading;
    await this.#cluster?.stop();
  }

  /** Shares `entry`'s breaker and places it among the members. */
  track(entry: Platform, intervalMs: number, timeoutMs: number): void {
    this.#tracked.set(entry.name, { entry, intervalMs, timeoutMs });
    this.#cluster?.track(entry.name, entry.breaker, intervalMs, timeoutMs);
  }

  /** Stops sharing `platform` (unregistered). */
  untrack(platform: string): void {
    this.#tracked.delete(platform);
    this.#cluster?.untrack(platform);
  }

  /** A scheduled check ran here: the others learn where and when. */
  checked(entry: Platform, result: HealthCheckResult, startedPerf: number): void {
    const tracked = this.#tracked.get(entry.name);
    if (tracked === undefined || tracked.entry !== entry) return;
    this.#cluster?.checked(entry.name, result.status, startedPerf, tracked.intervalMs * this.#link.intervalFactor());
  }

  /** The report's `cluster` part. */
  view(): ClusterReport {
    const view = this.#cluster?.view();
    if (view !== undefined) return { ...view, members: [...view.members] };
    return { replica: this.replica, redis: maskRedisUrl(this.#settings.redisUrl), localMode: true, members: [this.replica] };
  }

  /** `row` with the platform's owner and, when it is newer than this replica's own, the cluster's last check. */
  place(row: PlatformReport): PlatformReport {
    if (this.#cluster === undefined) return { ...row, owner: this.replica, lastCheckBy: row.lastCheckAt === undefined ? undefined : this.replica };
    const { owner, lastCheck } = this.#cluster.placement(row.platform);
    if (lastCheck === undefined || lastCheck.by === this.replica || (row.lastCheckAt !== undefined && row.lastCheckAt >= lastCheck.at)) {
      return { ...row, owner, lastCheckBy: row.lastCheckAt === undefined ? undefined : this.replica };
    }
    // Another replica checked it last: its result stands for the platform; the details of the check stay where it ran.
    const { lastHealth: _health, lastDurationSeconds: _seconds, lastError: _error, ...rest } = row;
    return { ...rest, owner, lastResult: lastCheck.status, lastCheckAt: Math.round(lastCheck.at), lastCheckBy: lastCheck.by };
  }
}
