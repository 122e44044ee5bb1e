import { readFile, statfs, access } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { checkFunction, describeValue } from './common/validate.ts';
import { parseOptions } from './common/option-schema.ts';
import { isThenable } from './common/promise.ts';
import { RESOURCE_OPTIONS, type ResourceMonitorOptions } from './resource-options.ts';
import { createLibraryLogger, silentLogger, type Logger } from './common/logger.ts';
import { initMetrics, RESOURCES, type HealthMetrics, type ResourceName } from './core/metrics.ts';

/** One sample: utilisation ratios in [0, 1]; a resource that could not be measured is absent. */
export type ResourceReadings = Partial<Record<ResourceName, number>>;
/** Produces readings; the default ({@link createSystemSampler}) reads the real host. */
export type ResourceSampler = () => ResourceReadings | Promise<ResourceReadings>;
/** Why degraded mode was entered: the resource furthest over its threshold, its reading and that threshold. */
export interface DegradedReason { resource: ResourceName; value: number; threshold: number }
/** Passed to {@link ResourceMonitor.onChange} listeners on every mode flip. */
export interface DegradedChange {
  degraded: boolean;
  /** Set on entry; `undefined` on exit. */
  reason: DegradedReason | undefined;
  /** The latest valid reading of every resource when the flip happened. */
  readings: ResourceReadings;
  /** `Date.now()` at the flip. */
  at: number;
}
/** Memory figures from a cgroup in bytes; `used` excludes inactive file cache, `limit` is undefined when there is none (`max`). */
export interface CgroupMemory { limit: number | undefined; used: number }
/** What {@link readCgroup} found; every field is undefined when the file was absent or unparsable. */
export interface CgroupReading {
  version: 1 | 2 | undefined;
  memory: CgroupMemory | undefined;
  /** CPU quota in cores (quota / period). */
  cpuQuotaCores: number | undefined;
  /** Cumulative CPU time of the cgroup in microseconds. */
  cpuUsageUs: number | undefined;
}

// v1 reports "no limit" as PAGE_COUNTER_MAX rounded to a page (~2^63); anything this big is not a real limit.
const UNLIMITED = 2 ** 60;
const toNumber = (text: string | undefined): number | undefined => {
  const n = text === undefined || text.trim() === '' ? NaN : Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
};
const clamp01 = (n: number): number => Math.min(1, Math.max(0, n));

/** Parses /proc/meminfo into bytes; `available` is undefined on kernels older than 3.14 (no MemAvailable). */
export function parseMeminfo(text: string): { total: number; available: number | undefined } | undefined {
  const field = (name: string) => toNumber(new RegExp(`^${name}:\\s*(\\d+)\\s*kB`, 'm').exec(text)?.[1]);
  const total = field('MemTotal');
  const available = field('MemAvailable');
  return total && total > 0 ? { total: total * 1024, available: available === undefined ? undefined : available * 1024 } : undefined;
}

/**
 * Parses cgroup memory files (v2 `memory.max`/`memory.current`/`memory.stat`, or v1
 * `memory.limit_in_bytes`/`memory.usage_in_bytes`/`memory.stat`). Inactive file cache is
 * subtracted from usage because the kernel reclaims it before it OOM-kills anything.
 */
export function parseCgroupMemory(files: { limit: string; usage: string; stat?: string | undefined }): CgroupMemory | undefined {
  const usage = toNumber(files.usage);
  if (usage === undefined) return undefined;
  const limitValue = files.limit.trim() === 'max' ? undefined : toNumber(files.limit);
  const stat = files.stat ?? '';
  // v1 memory.stat has both; total_inactive_file counts descendant cgroups too, like usage_in_bytes.
  const inactive = toNumber(/^total_inactive_file (\d+)/m.exec(stat)?.[1]) ?? toNumber(/^inactive_file (\d+)/m.exec(stat)?.[1]) ?? 0;
  return { limit: limitValue !== undefined && limitValue > 0 && limitValue < UNLIMITED ? limitValue : undefined, used: Math.max(0, usage - inactive) };
}

/** Parses cgroup v2 `cpu.max` ("quota period" or "max period") into cores; undefined means no quota. */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  return parseCfsQuota(quota === 'max' ? '-1' : (quota ?? ''), period ?? '100000');
}

/** Parses cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` into cores; -1 (no quota) gives undefined. */
export function parseCfsQuota(quotaText: string, periodText: string): number | undefined {
  const quota = toNumber(quotaText);
  const period = toNumber(periodText);
  return quota !== undefined && period !== undefined && quota > 0 && period > 0 ? quota / period : undefined;
}

/** Maps each controller in /proc/self/cgroup to its path; the v2 unified hierarchy is under key `''`. */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (match) for (const controller of (match[1] ?? '').split(',')) paths.set(controller.replace(/^name=/, ''), match[2] ?? '/');
  }
  return paths;
}

const readText = (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);
const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

/**
 * Reads the cgroup of this process under `root` (default `/`; tests point it at a fixture
 * tree holding `proc/self/cgroup` and `sys/fs/cgroup/...`). Only the process's own cgroup is
 * read, not its ancestors: with a cgroup namespace (every modern container) that is the
 * container's, and without one the files at the mount point are tried as a fallback.
 */
export async function readCgroup(root = '/'): Promise<CgroupReading> {
  const base = join(root, 'sys/fs/cgroup');
  const paths = parseProcCgroup((await readText(join(root, 'proc/self/cgroup'))) ?? '');
  // The process's path is only right without a cgroup namespace; inside one, the mount point is the container.
  const dirFor = async (mount: string, controller: string, file: string): Promise<string | undefined> => {
    for (const dir of [join(base, mount, paths.get(controller) ?? ''), join(base, mount)]) {
      if (await exists(join(dir, file))) return dir;
    }
    return undefined;
  };
  const reading: CgroupReading = { version: undefined, memory: undefined, cpuQuotaCores: undefined, cpuUsageUs: undefined };
  if (await exists(join(base, 'cgroup.controllers'))) await readCgroupV2(dirFor, reading);
  else await readCgroupV1(dirFor, reading);
  return reading;
}

/** Finds the directory of a cgroup controller that holds `file`. */
type CgroupDirFinder = (mount: string, controller: string, file: string) => Promise<string | undefined>;

/** The unified hierarchy: memory.max/current/stat, cpu.max, cpu.stat. */
async function readCgroupV2(dirFor: CgroupDirFinder, reading: CgroupReading): Promise<void> {
  reading.version = 2;
  const mem = await dirFor('', '', 'memory.current');
  if (mem) {
    const [limit, usage, stat] = await Promise.all(['memory.max', 'memory.current', 'memory.stat'].map((f) => readText(join(mem, f))));
    reading.memory = parseCgroupMemory({ limit: limit ?? 'max', usage: usage ?? '', stat });
  }
  const cpu = await dirFor('', '', 'cpu.max');
  if (cpu) reading.cpuQuotaCores = parseCpuMax((await readText(join(cpu, 'cpu.max'))) ?? '');
  const stat = await dirFor('', '', 'cpu.stat');
  if (stat) reading.cpuUsageUs = toNumber(/^usage_usec (\d+)/m.exec((await readText(join(stat, 'cpu.stat'))) ?? '')?.[1]);
}

/** Controllers mounted apart (v1): memory, cpu (CFS quota) and cpuacct; the version stays unknown when none is found. */
async function readCgroupV1(dirFor: CgroupDirFinder, reading: CgroupReading): Promise<void> {
  const mem = await dirFor('memory', 'memory', 'memory.usage_in_bytes');
  const cpu = await dirFor('cpu', 'cpu', 'cpu.cfs_quota_us');
  const acct = await dirFor('cpuacct', 'cpuacct', 'cpuacct.usage');
  if (mem || cpu || acct) reading.version = 1;
  if (mem) {
    const [limit, usage, stat] = await Promise.all(['memory.limit_in_bytes', 'memory.usage_in_bytes', 'memory.stat'].map((f) => readText(join(mem, f))));
    reading.memory = parseCgroupMemory({ limit: limit ?? '', usage: usage ?? '', stat });
  }
  if (cpu) reading.cpuQuotaCores = parseCfsQuota((await readText(join(cpu, 'cpu.cfs_quota_us'))) ?? '', (await readText(join(cpu, 'cpu.cfs_period_us'))) ?? '');
  if (acct) {
    const ns = toNumber(await readText(join(acct, 'cpuacct.usage')));
    reading.cpuUsageUs = ns === undefined ? undefined : ns / 1000;
  }
}

interface CpuSnapshot { at: number; busy: number; total: number; cgroup: CgroupReading }

async function cpuSnapshot(root: string): Promise<CpuSnapshot> {
  let busy = 0;
  let total = 0;
  for (const { times } of os.cpus()) {
    busy += times.user + times.nice + times.sys + times.irq;
    total += times.user + times.nice + times.sys + times.irq + times.idle;
  }
  return { at: performance.now(), busy, total, cgroup: await readCgroup(root) };
}

/** CPU ratio between two snapshots, or undefined when no time has been accounted in between. */
function cpuBetween(before: CpuSnapshot, now: CpuSnapshot): number | undefined {
  const quota = now.cgroup.cpuQuotaCores;
  // A quota at or above the host's core count never binds; the host ratio is then the honest figure.
  if (quota !== undefined && quota < os.cpus().length) {
    const elapsedMs = now.at - before.at;
    const { cpuUsageUs: end } = now.cgroup;
    const { cpuUsageUs: start } = before.cgroup;
    // The cgroup's own usage, when readable, keeps busy neighbours on a shared host from counting against our quota.
    const busyMs = end !== undefined && start !== undefined ? (end - start) / 1000 : now.busy - before.busy;
    return elapsedMs > 0 ? clamp01(busyMs / (quota * elapsedMs)) : undefined;
  }
  const total = now.total - before.total;
  return total > 0 ? clamp01((now.busy - before.busy) / total) : undefined;
}

async function memoryRatio(root: string, cgroup: CgroupReading): Promise<number> {
  const meminfo = parseMeminfo((await readText(join(root, 'proc/meminfo'))) ?? '');
  const hostTotal = meminfo?.total ?? os.totalmem();
  // A container limit above physical RAM never binds; RAM runs out first.
  const { memory } = cgroup;
  if (memory?.limit !== undefined && memory.limit < hostTotal) return clamp01(memory.used / memory.limit);
  if (memory === undefined) {
    const constrained = process.constrainedMemory();
    if (constrained > 0 && constrained < hostTotal) return clamp01(1 - process.availableMemory() / constrained);
  }
  if (meminfo?.available !== undefined) return clamp01(1 - meminfo.available / meminfo.total);
  return clamp01(1 - os.freemem() / os.totalmem());
}

/**
 * The default sampler: memory against the container limit (else RAM), CPU over the time since
 * the previous call (the first call measures from creation), disk of the filesystem holding
 * `path`. CPU is left out of a reading when no CPU time has been accounted since the previous
 * one, and the baseline is kept so the next call covers the longer window. A resource that cannot
 * be read is left out and logged at debug level rather than failing the whole sample.
 */
export function createSystemSampler(options: { path?: string; cgroupRoot?: string; logger?: Logger } = {}): () => Promise<ResourceReadings> {
  const { path = process.cwd(), cgroupRoot = '/', logger = silentLogger } = options;
  let previous = cpuSnapshot(cgroupRoot);
  return async () => {
    const readings: ResourceReadings = {};
    const now = await cpuSnapshot(cgroupRoot);
    const cpu = cpuBetween(await previous, now);
    if (cpu !== undefined) {
      readings.cpu = cpu;
      previous = Promise.resolve(now);
    }
    readings.memory = await memoryRatio(cgroupRoot, now.cgroup);
    try {
      const fsStats = await statfs(path);
      const used = fsStats.blocks - fsStats.bfree;
      // Like df: blocks reserved for root are neither used nor available to us.
      const size = used + fsStats.bavail;
      if (size > 0) readings.disk = clamp01(used / size);
    } catch (err) {
      logger.debug({ err, path }, 'conductor-health: cannot read disk usage');
    }
    return readings;
  };
}

export type { ResourceMonitorOptions };

/**
 * Samples host resources and runs the degraded-mode state machine: degraded as soon as any
 * resource reaches its threshold, healthy again only after `recoverSamples` consecutive samples
 * with every resource below `recoverBelow`. The gap between the two levels is what keeps a
 * reading hovering around the threshold from flapping the mode.
 */
export class ResourceMonitor {
  readonly #sampler: ResourceSampler;
  readonly #intervalMs: number;
  readonly #thresholds = {} as Record<ResourceName, number>;
  readonly #recoverBelow = {} as Record<ResourceName, number>;
  readonly #recoverSamples: number;
  readonly #sampleTimeoutMs: number;
  readonly #metrics: HealthMetrics;
  readonly #logger: Logger;
  readonly #listeners = new Set<(change: DegradedChange) => void>();
  #readings: ResourceReadings = {};
  #degraded = false;
  #reason: DegradedReason | undefined;
  #belowCount = 0;
  /** Consecutive samples cut off by the bound (or skipped behind a call that was). */
  #hungCount = 0;
  /** A sampler call that outlived its bound and has still not settled. */
  #hung: Promise<unknown> | undefined;
  #inflight: Promise<ResourceReadings> | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** Validates `options` (throwing a TypeError/RangeError that names the option and value); starts nothing. */
  constructor(options?: ResourceMonitorOptions) {
    const opts = parseOptions(RESOURCE_OPTIONS, 'resource monitor', options);
    this.#intervalMs = opts.intervalMs;
    this.#recoverSamples = opts.recoverSamples;
    this.#sampleTimeoutMs = opts.sampleTimeoutMs;
    const { recoverBelow } = opts;
    const recover = typeof recoverBelow === 'object' ? recoverBelow : undefined;
    for (const r of RESOURCES) {
      const t = opts.thresholds[r] ?? opts.threshold;
      this.#thresholds[r] = t;
      const name = recover ? `recoverBelow.${r}` : 'recoverBelow';
      const rb = (typeof recoverBelow === 'number' ? recoverBelow : recover?.[r]) ?? Math.max(0, Math.min(0.75, t - 0.05));
      if (rb >= t) throw new RangeError(`conductor-health: option "${name}" must be below the ${r} threshold ${t}, got ${describeValue(rb)}`);
      this.#recoverBelow[r] = rb;
    }
    if (opts.metrics !== undefined && opts.meter !== undefined) throw new TypeError('conductor-health: pass either "metrics" or "meter", not both');
    this.#metrics = opts.metrics ?? initMetrics({ meter: opts.meter });
    this.#logger = opts.logger ?? createLibraryLogger();
    this.#sampler = opts.sampler ?? createSystemSampler({ path: opts.path, cgroupRoot: opts.cgroupRoot, logger: this.#logger });
  }

  /** Whether the monitor is in degraded mode. */
  isDegraded(): boolean { return this.#degraded; }

  /** The latest valid reading of each resource (a copy); a resource never read validly is absent. */
  lastReadings(): ResourceReadings { return { ...this.#readings }; }

  /** What caused the current degraded mode, or undefined while healthy. */
  reason(): DegradedReason | undefined { return this.#reason && { ...this.#reason }; }

  /** Calls `listener` on every entry to and exit from degraded mode; returns the unsubscribe function. */
  onChange(listener: (change: DegradedChange) => void): () => void {
    checkFunction('listener', listener);
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** Samples every `intervalMs`, the first time at once, on an unref'ed timer; a second call does nothing. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#metrics.setDegraded(this.#degraded);
    this.#timer = setInterval(() => void this.sample(), this.#intervalMs);
    this.#timer.unref();
    void this.sample();
  }

  /**
   * Stops the timer; a sample already running finishes but no further one starts.
   * Resolves once that sample has finished (and logged what it had to), at once when none runs.
   */
  stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    return this.#inflight === undefined ? Promise.resolve() : this.#inflight.then(() => {});
  }

  /**
   * Takes one sample, records it and updates the mode; resolves to the valid readings of this
   * sample. Never rejects: a failing sampler or invalid value is logged and ignored. A call while
   * a sample is running joins it, so samples never overlap.
   */
  sample(): Promise<ResourceReadings> {
    this.#inflight ??= this.#run()
      .catch((err: unknown) => {
        // Only a broken metrics object or logger gets here; the sampler's own errors are handled in #run.
        try { this.#logger.error({ err }, 'conductor-health: resource sample failed'); } catch { /* nowhere left to report it */ }
        return {};
      })
      .finally(() => { this.#inflight = undefined; });
    return this.#inflight;
  }

  async #run(): Promise<ResourceReadings> {
    if (this.#hung !== undefined) {
      this.#logger.warn({ sampleTimeoutMs: this.#sampleTimeoutMs }, 'conductor-health: the previous resource sample has still not settled; sample skipped');
      return this.#hungSample();
    }
    let raw: unknown;
    try {
      raw = await this.#bounded(this.#sampler());
    } catch (err) {
      this.#logger.warn({ err }, 'conductor-health: resource sampler failed; sample ignored');
      return this.#hung === undefined ? {} : this.#hungSample();
    }
    this.#hungCount = 0;
    const fresh = this.#validate(raw);
    if (Object.keys(fresh).length === 0) return fresh;
    Object.assign(this.#readings, fresh);
    for (const [resource, value] of Object.entries(fresh) as [ResourceName, number][]) this.#metrics.setSystemResource(resource, value);
    this.#evaluate();
    return fresh;
  }

  /** The sampler's answer, or a rejection once it takes longer than sampleTimeoutMs (the call is then remembered as hung). */
  #bounded(answer: ResourceReadings | Promise<ResourceReadings>): Promise<ResourceReadings> {
    if (!isThenable(answer)) return Promise.resolve(answer);
    const call = Promise.resolve(answer);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#hung = call;
        const settled = () => {
          if (this.#hung === call) this.#hung = undefined;
        };
        call.then(settled, settled);
        reject(new Error(`resource sampler did not settle within ${this.#sampleTimeoutMs} ms`));
      }, this.#sampleTimeoutMs);
      timer.unref();
    });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  /** A sample the bound cut off; enough of them in a row end degraded mode (the readings behind it are stale). */
  #hungSample(): ResourceReadings {
    this.#hungCount += 1;
    if (this.#degraded && this.#hungCount >= this.#recoverSamples) {
      this.#logger.warn({ samples: this.#hungCount }, 'conductor-health: the resource sampler does not answer; leaving degraded mode');
      this.#readings = {};
      this.#flip(false, undefined);
    }
    return {};
  }

  #validate(raw: unknown): ResourceReadings {
    const valid: ResourceReadings = {};
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      this.#logger.warn({ readings: describeValue(raw) }, 'conductor-health: resource sampler returned a non-object; sample ignored');
      return valid;
    }
    for (const [key, value] of Object.entries(raw)) {
      if (value === undefined) continue;
      if ((RESOURCES as readonly string[]).includes(key) && typeof value === 'number' && value >= 0 && value <= 1) {
        valid[key as ResourceName] = value;
      } else {
        this.#logger.warn({ resource: key, value: describeValue(value) }, 'conductor-health: invalid resource reading ignored (expected a ratio in [0, 1])');
      }
    }
    return valid;
  }

  #evaluate(): void {
    // Judged on the latest valid value of every resource, so a resource whose reading failed this time still holds recovery back.
    const entries = Object.entries(this.#readings) as [ResourceName, number][];
    if (!this.#degraded) {
      let worst: DegradedReason | undefined;
      for (const [resource, value] of entries) {
        const threshold = this.#thresholds[resource];
        if (value >= threshold && (!worst || value - threshold > worst.value - worst.threshold)) worst = { resource, value, threshold };
      }
      if (worst) this.#flip(true, worst);
      return;
    }
    if (!entries.every(([resource, value]) => value < this.#recoverBelow[resource])) this.#belowCount = 0;
    else if (++this.#belowCount >= this.#recoverSamples) this.#flip(false, undefined);
  }

  #flip(degraded: boolean, reason: DegradedReason | undefined): void {
    this.#degraded = degraded;
    this.#reason = reason;
    this.#belowCount = 0;
    this.#metrics.setDegraded(degraded);
    const change: DegradedChange = { degraded, reason: reason && { ...reason }, readings: this.lastReadings(), at: Date.now() };
    this.#logger[degraded ? 'warn' : 'info']({ reason, readings: change.readings }, degraded ? 'conductor-health: entering degraded mode' : 'conductor-health: leaving degraded mode');
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (err) {
        this.#logger.error({ err }, 'conductor-health: degraded-mode listener threw');
      }
    }
  }
}
