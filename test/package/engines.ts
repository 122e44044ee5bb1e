// What npm says about `engines` when it installs on a Node older than a package
// asks for: one `npm warn EBADENGINE` block per such package. Computed from a
// lock file, so README's figure and a real install can both be held to it.
import semver from 'semver';

interface LockEntry {
  name?: string;
  version?: string;
  engines?: { node?: string };
  optional?: boolean;
  os?: string[];
  cpu?: string[];
}

/** `name@version` of `path` in a v3 lock (`""` is the project itself). */
function spec(path: string, entry: LockEntry, root: { name?: string; version?: string }): string {
  if (path === '') return `${root.name}@${root.version}`;
  const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  return `${name}@${entry.version}`;
}

/** An optional package for another platform, which npm skips without checking its engines. */
function skipped(entry: LockEntry): boolean {
  const other = (list: string[] | undefined, here: string) => list !== undefined && !list.some((v) => v === here || v === 'any');
  return entry.optional === true && (other(entry.os, process.platform) || other(entry.cpu, process.arch));
}

/** The `name@version`s of a lock whose engines.node `nodeVersion` does not satisfy, sorted. */
export function packagesRefusing(lock: { packages: Record<string, LockEntry> }, nodeVersion: string): string[] {
  const root = lock.packages[''] ?? {};
  return Object.entries(lock.packages)
    .filter(([, entry]) => entry.engines?.node !== undefined && !skipped(entry) && !semver.satisfies(nodeVersion, entry.engines.node))
    .map(([path, entry]) => spec(path, entry, root))
    .sort();
}

/** The packages npm named in its `EBADENGINE` warning blocks, sorted. */
export function warnedPackages(npmOutput: string): string[] {
  return [...npmOutput.matchAll(/^npm warn EBADENGINE {3}package: '([^']+)',?$/gm)].map((m) => m[1]!).sort();
}
