/**
 * Where and when each platform was last checked, cluster-wide. A replica
 * sends its checks in batches (one script call every half second, whatever
 * their number), and reads everyone's once per round: the report shows where
 * a platform's last check ran, and a backup sees an owner that fell silent.
 */
import { LogLimiter } from '../common/log-limiter.ts';
import type { Logger } from '../common/logger.ts';
import { shortMessage } from '../core/failure.ts';
import { HEALTH_CHECK_STATUSES, type HealthCheckStatus } from '../core/metrics.ts';
import type { Membership } from './membership.ts';
import type { SharedStore } from './store.ts';

/** A platform's last check as the cluster recorded it. */
export interface LastCheck {
  /** Wall time of the check's start, by this process's clock. */
  readonly at: number;
  /** Redis time of the check's start, in ms. */
  readonly redisAt: number;
  /** The replica that ran it. */
  readonly by: string;
  readonly status: HealthCheckStatus;
  /** The interval its replica checked the platform at then (degraded mode stretches it). */
  readonly intervalMs: number;
}

/** How often the checks made here are sent. */
export const FLUSH_MS = 500;

/** Last checks read between two turns of the event loop. */
const READ_SLICE = 1_000;

/** A last check older than this, and than {@link STALE_INTERVALS} of its interval, is of a platform no replica has any more. */
const STALE_MS = 10 * 60_000;
const STALE_INTERVALS = 10;

/** What the shared checks ask of the cluster about a platform. */
export interface CheckRanks {
  /** This replica has `platform`. */
  tracked(platform: string): boolean;
  /** `by` ranks above this replica for `platform`. */
  above(platform: string, by: string): boolean;
}

/** A stored last check ("time|replica|status|interval"), or undefined when it does not parse. */
export function parseLastCheck(value: string): Omit<LastCheck, 'at'> | undefined {
  const [time, by, status, interval, extra] = value.split('|');
  const redisAt = Number(time);
  const intervalMs = Number(interval);
  if (extra !== undefined || by === undefined || by === '' || !HEALTH_CHECK_STATUSES.includes(status as HealthCheckStatus)) return undefined;
  if (!Number.isFinite(redisAt) || redisAt < 0 || !(intervalMs > 0)) return undefined;
  return { redisAt, by, status: status as HealthCheckStatus, intervalMs };
}

export class SharedChecks {
  readonly #store: SharedStore;
  readonly #membership: Membership;
  readonly #self: string;
  readonly #logger: Logger;
  readonly #limiter = new LogLimiter();
  /** Checks made here, not yet sent: the latest per platform is enough. */
  #queue = new Map<string, { startedPerf: number; status: HealthCheckStatus; intervalMs: number; covering: boolean }>();
  #last = new Map<string, LastCheck>();
  /** Per platform, the Redis time of the latest check read that a replica ranked above this one made. */
  readonly #aboveAt = new Map<string, number>();
  readonly #ranks: CheckRanks;
  #flushTimer: NodeJS.Timeout | undefined;
  #readTimer: NodeJS.Timeout | undefined;
  #reading = false;

  constructor(store: SharedStore, membership: Membership, self: string, logger: Logger, ranks: CheckRanks) {
    this.#ranks = ranks;
    this.#store = store;
    this.#membership = membership;
    this.#self = self;
    this.#logger = logger;
  }

  /** Sends checks every half second and reads everyone's every `readMs`; the timers never keep the process alive. */
  start(readMs: number): void {
    this.#flushTimer = setInterval(() => void this.flush(), FLUSH_MS);
    this.#flushTimer.unref();
    this.#readTimer = setInterval(() => void this.read(), readMs);
    this.#readTimer.unref();
  }

  /** Sends what is queued and stops; never rejects. */
  async stop(): Promise<void> {
    clearInterval(this.#flushTimer);
    clearInterval(this.#readTimer);
    await this.flush();
  }

  /**
   * A check this replica made, started at `startedPerf` (`performance.now()`),
   * of a platform checked every `intervalMs`; `covering` for a silent owner.
   */
  checked(platform: string, status: HealthCheckStatus, startedPerf: number, intervalMs: number, covering: boolean): void {
    this.#queue.set(platform, { startedPerf, status, intervalMs, covering });
    // Known here at once; everyone else's comes with the next read.
    const redisNow = this.#membership.redisNow();
    if (redisNow !== undefined) {
      const age = performance.now() - startedPerf;
      this.#last.set(platform, { at: Date.now() - age, redisAt: redisNow - age, by: this.#self, status, intervalMs });
    }
  }

  /** `platform`'s last check, as last read (or made here). */
  lastCheck(platform: string): LastCheck | undefined {
    return this.#last.get(platform);
  }

  /** The Redis time of the latest check of `platform` read here that a replica ranked above this one made. */
  aboveAt(platform: string): number | undefined {
    return this.#aboveAt.get(platform);
  }

  /** Sends the checks made since the last flush, in one script call; a failure loses them (the next check of each says the same, newer). */
  async flush(): Promise<void> {
    if (this.#queue.size === 0) return;
    const batch = this.#queue;
    this.#queue = new Map();
    if (this.#membership.localMode) return;
    const now = performance.now();
    const fields: string[] = [];
    for (const [platform, { startedPerf, status, intervalMs, covering }] of batch) {
      fields.push(platform, String(Math.max(0, Math.round(now - startedPerf))), status, String(intervalMs), covering ? '1' : '0');
    }
    try {
      await this.#store.recordChecks(this.#self, fields);
    } catch (error) {
      this.#limiter.take('flush', (suppressed) => this.#logger.warn({ redis: this.#store.where, error: shortMessage(error), suppressed }, 'conductor-health cluster: checks could not be recorded'));
    }
  }

  /**
   * Reads every platform's last check, in slices (10,000 of them must not
   * block the event loop in one piece); a value that does not parse is
   * logged and ignored. A platform this replica does not have is skipped,
   * and one nobody has checked for long (unregistered everywhere) is deleted,
   * so the hash does not grow with every platform there ever was.
   */
  async read(): Promise<void> {
    if (this.#reading || this.#membership.localMode) return;
    this.#reading = true;
    try {
      const records = await this.#store.checks();
      const redisNow = this.#membership.redisNow();
      if (redisNow === undefined) return;
      const wallNow = Date.now();
      const stale: string[] = [];
      let n = 0;
      for (const [platform, value] of records) {
        if (++n % READ_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const check = parseLastCheck(value);
        if (check !== undefined && redisNow - check.redisAt > Math.max(STALE_MS, STALE_INTERVALS * check.intervalMs)) stale.push(platform);
        if (check === undefined) {
          this.#limiter.take('corrupt-check', (suppressed) =>
            this.#logger.warn({ suppressed }, 'conductor-health cluster: a last check read from Redis does not parse; ignored'),
          );
          continue;
        }
        if (!this.#ranks.tracked(platform)) continue;
        // A time in the future (a hand edit, a clock that stepped) counts as now: it must not keep a backup away for ever.
        const redisAt = Math.min(check.redisAt, redisNow);
        const known = this.#last.get(platform);
        if (known === undefined || known.redisAt < redisAt) this.#last.set(platform, { ...check, redisAt, at: wallNow - (redisNow - redisAt) });
        if (this.#ranks.above(platform, check.by)) this.#aboveAt.set(platform, Math.max(this.#aboveAt.get(platform) ?? 0, redisAt));
      }
      if (stale.length > 0) await this.#store.forgetChecks(stale);
    } catch (error) {
      this.#limiter.take('read', (suppressed) => this.#logger.warn({ redis: this.#store.where, error: shortMessage(error), suppressed }, 'conductor-health cluster: last checks could not be read'));
    } finally {
      this.#reading = false;
    }
  }

  /** Forgets a platform (unregistered). */
  forget(platform: string): void {
    this.#queue.delete(platform);
    this.#last.delete(platform);
    this.#aboveAt.delete(platform);
  }
}
