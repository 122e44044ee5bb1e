/**
 * A replica's place in a cluster of replicas: a facade over the store (the
 * Redis they share), the membership, the shared breakers and the shared last
 * checks. It answers the one question the monitor asks before each check,
 * "is this platform mine to check?", and keeps each tracked platform's
 * breaker following the shared one. Loaded only when a monitor is given a
 * cluster: `import()`ed, so a monitor without one never loads a Redis client.
 */
import type { PlatformCircuitBreaker } from '../breaker/circuit-breaker.ts';
import type { Logger } from '../common/logger.ts';
import type { HealthCheckStatus, HealthMetrics } from '../core/metrics.ts';
import { Membership } from './membership.ts';
import type { ClusterSettings } from './options.ts';
import { top } from './rendezvous.ts';
import { SharedBreakers } from './shared-breakers.ts';
import { FLUSH_MS, SharedChecks, type LastCheck } from './shared-checks.ts';
import { SharedStore } from './store.ts';

export type { LastCheck } from './shared-checks.ts';

/** A platform's place in the cluster. */
export interface Placement {
  /** The replica that checks it (this one for every platform in local mode). */
  readonly owner: string;
  /** Its last check, wherever it ran, if one is known here. */
  readonly lastCheck: LastCheck | undefined;
}

/** The cluster as this replica sees it. */
export interface ClusterView {
  /** This replica's id. */
  readonly replica: string;
  /** The Redis URL, its password masked. */
  readonly redis: string;
  /** True while this replica cannot reach Redis (or has not yet): it checks every platform and its breakers decide alone. */
  readonly localMode: boolean;
  /** The live members, sorted, this replica included. */
  readonly members: readonly string[];
}

/** A platform the cluster shares. */
interface Tracked {
  /** Its interval on this replica. */
  intervalMs: number;
  /** Redis time it became known to the cluster here: a backup gives a new owner two intervals from then. */
  since: number | undefined;
}

/**
 * The replica ranked k-th (the owner is 0) covers a platform that no replica
 * ranked above it has checked for k + this many of its intervals: the backup
 * after two, the next after three (the backup may not have the platform:
 * a rolling config change, a platform registered on some replicas only).
 */
const SILENT_INTERVALS = 1;

export class Cluster {
  /** This replica's id. */
  readonly self: string;
  readonly #store: SharedStore;
  readonly #membership: Membership;
  readonly #breakers: SharedBreakers;
  readonly #checks: SharedChecks;
  readonly #settings: ClusterSettings;
  readonly #tracked = new Map<string, Tracked>();
  /** Each platform's members, best-ranked first (owner, backup, …), for the current members; cleared when they change. */
  #ranks = new Map<string, readonly string[]>();
  #wasLocal = true;
  #started = false;
  /** How often every platform's last check is read. */
  #readMs = 0;

  /** `self` is this replica's id. */
  constructor(settings: ClusterSettings, self: string, logger: Logger, metrics: HealthMetrics) {
    this.self = self;
    this.#settings = settings;
    const memberTtlMs = settings.memberTtlMs ?? 3 * settings.heartbeatMs;
    this.#store = new SharedStore(settings, logger, (message) => this.#onMessage(message), () => void this.#breakers.resync());
    this.#membership = new Membership(this.#store, self, settings.heartbeatMs, memberTtlMs, logger, metrics);
    this.#breakers = new SharedBreakers(this.#store, this.#membership, self, settings.minReplicas, (platform) => this.#place(platform), logger);
    this.#checks = new SharedChecks(this.#store, this.#membership, self, logger, {
      tracked: (platform) => this.#tracked.has(platform),
      above: (platform, by) => {
        const ranked = this.#rank(platform);
        const at = ranked.indexOf(by);
        return at >= 0 && at < ranked.indexOf(self);
      },
    });
    this.#membership.events.on('change', () => this.#membersChanged());
    this.#membership.events.on('wiped', () => this.#breakers.rebuild());
  }

  /** The Redis URL, password masked. */
  get where(): string {
    return this.#store.where;
  }

  /** Joins: heartbeats, resyncs breakers, sends and reads last checks (every `readMs`). Returns at once; until the first heartbeat answers, this replica is in local mode. */
  start(readMs: number): void {
    if (this.#started) return;
    this.#started = true;
    this.#readMs = readMs;
    this.#membership.start();
    this.#breakers.start(this.#settings.resyncMs);
    this.#checks.start(readMs);
  }

  /** Sends the last checks, leaves the members and closes the connections; each step bounded by the command timeout; never rejects. */
  async stop(): Promise<void> {
    this.#store.stopping();
    await this.#breakers.stop();
    await this.#checks.stop();
    await this.#membership.stop();
    this.#store.close();
  }

  /**
   * Shares `platform`'s breaker and places it among the members. `intervalMs`
   * and `timeoutMs` are its check's: the owner holds a due trial long enough
   * for its next check to carry it.
   */
  track(platform: string, breaker: PlatformCircuitBreaker, intervalMs: number, timeoutMs: number): void {
    this.#tracked.set(platform, { intervalMs, since: this.#membership.redisNow() });
    this.#breakers.follow(platform, breaker, intervalMs + timeoutMs + 1_000);
  }

  /** Stops sharing `platform` (unregistered). */
  untrack(platform: string): void {
    this.#tracked.delete(platform);
    this.#ranks.delete(platform);
    this.#breakers.unfollow(platform);
    this.#checks.forget(platform);
  }

  /**
   * Is `platform` this replica's to check now? Its owner's; its backup's
   * once the owner has not checked it for two of its intervals; with
   * `minReplicas` above 1, each of the first `minReplicas` ranked while
   * failures from fewer replicas are counted, so a failure one replica sees
   * is confirmed or cleared by others; in local mode, every platform is.
   */
  checksHere(platform: string): boolean {
    const place = this.#place(platform);
    if (place === 0) return true;
    if (place < this.#settings.minReplicas && this.#breakers.unconfirmed(platform)) return true;
    return this.#aboveSilent(platform, place);
  }

  /** A check this replica ran: shared with the others in the next batch. */
  checked(platform: string, status: HealthCheckStatus, startedPerf: number, intervalMs: number): void {
    this.#checks.checked(platform, status, startedPerf, intervalMs, this.#place(platform) > 0);
  }

  /** Where `platform` is checked, and its last check. */
  placement(platform: string): Placement {
    return { owner: this.#owner(platform) ?? this.self, lastCheck: this.#checks.lastCheck(platform) };
  }

  /** The cluster as this replica sees it now. */
  view(): ClusterView {
    return { replica: this.self, redis: this.#store.where, localMode: this.#membership.localMode, members: [...this.#membership.members] };
  }

  #rank(platform: string): readonly string[] {
    let ranked = this.#ranks.get(platform);
    if (ranked === undefined) {
      ranked = top(platform, this.#membership.members, this.#membership.members.length);
      this.#ranks.set(platform, ranked);
    }
    return ranked;
  }

  #owner(platform: string): string | undefined {
    return this.#membership.localMode ? this.self : this.#rank(platform)[0];
  }

  /** This replica's rank for `platform`: 0 for its owner (every platform in local mode). */
  #place(platform: string): number {
    return this.#membership.localMode ? 0 : this.#rank(platform).indexOf(this.self);
  }

  /**
   * No replica ranked above this one (at `place`) has checked `platform`
   * for `place` + {@link SILENT_INTERVALS} of its intervals by Redis time,
   * counted from its arrival here or the last change of the members at most.
   */
  #aboveSilent(platform: string, place: number): boolean {
    const now = this.#membership.redisNow();
    const tracked = this.#tracked.get(platform);
    if (now === undefined || tracked === undefined) return false;
    tracked.since ??= now;
    const from = Math.max(this.#checks.aboveAt(platform) ?? 0, tracked.since);
    const intervalMs = this.#checks.lastCheck(platform)?.intervalMs ?? tracked.intervalMs;
    // Counted from when the check could first be known here: sent within a flush, read within a round.
    return now - from > (place + SILENT_INTERVALS) * intervalMs + FLUSH_MS + this.#readMs;
  }

  #membersChanged(): void {
    this.#ranks = new Map();
    const local = this.#membership.localMode;
    // New ranks: a new owner gets its intervals from now before a lower-ranked replica covers for it.
    const now = this.#membership.redisNow();
    if (!local) for (const tracked of this.#tracked.values()) tracked.since = Math.max(tracked.since ?? 0, now ?? 0);
    if (local !== this.#wasLocal) {
      this.#wasLocal = local;
      this.#breakers.modeChanged();
    }
    this.#breakers.ownershipChanged();
  }

  /** One message on the channel: a member joined or left (look again now), or a breaker changed. */
  #onMessage(raw: string): void {
    let message: unknown;
    try {
      message = JSON.parse(raw);
    } catch {
      this.#breakers.corruptMessage(raw);
      return;
    }
    if (message === null || typeof message !== 'object') {
      this.#breakers.corruptMessage(raw);
      return;
    }
    if ('m' in message) {
      if (message.m !== this.self) this.#membership.beatSoon();
      return;
    }
    this.#breakers.onMessage(message as { p?: unknown; by?: unknown; st?: unknown }, raw);
  }
}
