/**
 * The default resource sampler: memory against the container's limit (else
 * RAM), CPU over the time since the previous sample, disk of the filesystem
 * holding a path.
 */
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../common/logger.ts';
import { parseOptions } from '../common/option-schema.ts';
import { clamp01, parseMeminfo, readCgroup, readText, type CgroupReading } from './cgroup.ts';
import { SAMPLER_OPTIONS, type SystemSamplerOptions } from './options.ts';
import type { ResourceReadings } from './readings.ts';

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
export function createSystemSampler(options?: SystemSamplerOptions): () => Promise<ResourceReadings> {
  const { path = process.cwd(), cgroupRoot, logger = silentLogger } = parseOptions(SAMPLER_OPTIONS, 'system sampler', options);
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
