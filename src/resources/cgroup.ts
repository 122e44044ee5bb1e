/**
 * The cgroup (v1 or v2) of this process: its memory limit and usage, its CPU
 * quota and usage. Only the process's own cgroup is read: inside a
 * container (a cgroup namespace) that is the container's.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';

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
export const toNumber = (text: string | undefined): number | undefined => {
  const n = text === undefined || text.trim() === '' ? NaN : Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
};
export const clamp01 = (n: number): number => Math.min(1, Math.max(0, n));

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

export const readText = (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);
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
