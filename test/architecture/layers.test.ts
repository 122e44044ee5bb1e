// The layer rules (.dependency-cruiser.cjs) bite: a tree that breaks each of
// them fails `npm run deps`, and the failure names every offending import.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');

/** Runs the project's rules over `files` (paths under src/ → source), in a scratch tree. */
async function cruise(dir: string, files: Record<string, string>): Promise<{ status: number | null; output: string }> {
  await rm(join(dir, 'src'), { recursive: true, force: true });
  for (const [path, source] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), source);
  }
  const run = spawnSync(process.execPath, [DEPCRUISE, 'src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'err'], { cwd: dir, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('the layer rules', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-layers-'));
    // The SDK rule matches resolved paths under node_modules.
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('pass this repository', () => {
    const run = spawnSync(process.execPath, [DEPCRUISE, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });

  it('fail a tree that breaks each of them, naming each offending import', async () => {
    const { status, output } = await cruise(dir, {
      'src/index.ts':
        "export * from './core/a.ts';\nexport * from './breaker/c.ts';\nexport * from './monitor/e.ts';\nexport * from './common/f.ts';\nexport * from './monitor/h.ts';\nexport * from './cluster/i.ts';\n",
      // Upward, and type-only: it counts all the same.
      'src/core/a.ts': "import type { B } from '../monitor/b.ts';\nexport type A = B;\n",
      'src/monitor/b.ts': "import type { A } from '../core/a.ts';\nexport type B = { a?: A };\n",
      // Siblings.
      'src/breaker/c.ts': "import { d } from '../resources/d.ts';\nexport const c = d;\n",
      'src/resources/d.ts': 'export const d = 1;\n',
      // The SDK outside telemetry/.
      'src/monitor/e.ts': "import { MeterProvider } from '@opentelemetry/sdk-metrics';\nexport const e = MeterProvider;\n",
      // A circle inside one layer.
      'src/common/f.ts': "import { g } from './g.ts';\nexport const f = () => g;\n",
      'src/common/g.ts': "import { f } from './f.ts';\nexport const g = () => f;\n",
      // The cluster loaded outright, and Redis reached past the store.
      'src/monitor/h.ts': "import { SharedStore } from '../cluster/store.ts';\nexport const h = SharedStore;\n",
      'src/cluster/store.ts': 'export class SharedStore {}\n',
      'src/cluster/i.ts': "import { createClient } from '@redis/client';\nexport const i = createClient;\n",
    });
    assert.notEqual(status, 0, 'the suite fails');
    const expected: Array<[string, string, string]> = [
      ['core-imports-only-below', 'src/core/a.ts', 'src/monitor/b.ts'],
      ['breaker-not-resources', 'src/breaker/c.ts', 'src/resources/d.ts'],
      ['only-telemetry-builds-the-sdk', 'src/monitor/e.ts', '@opentelemetry/sdk-metrics'],
      ['no-circular', 'src/common/f.ts', 'src/common/g.ts'],
      ['cluster-loaded-only-when-asked', 'src/monitor/h.ts', 'src/cluster/store.ts'],
      ['only-the-store-talks-to-redis', 'src/cluster/i.ts', '@redis/client'],
    ];
    for (const [rule, from, to] of expected) {
      assert.match(output, new RegExp(`error ${rule}: ${from.replaceAll('.', '\\.')} →\\s*[^\\n]*${to.replaceAll('.', '\\.')}`), `${rule} names ${from} → ${to}:\n${output}`);
    }
  });
});

describe('the size of the parts', () => {
  it('keeps every module under 400 lines and the monitor a facade of at most 250', async () => {
    const files = (await readdir(join(ROOT, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts'));
    const lines = Object.fromEntries(await Promise.all(files.map(async (f) => [f, (await readFile(join(ROOT, 'src', f), 'utf8')).split('\n').length - 1] as const)));
    assert.deepEqual(Object.entries(lines).filter(([, n]) => n > 400), [], 'no module over 400 lines');
    assert.ok(lines['monitor/health-monitor.ts']! <= 250, `HealthMonitor is ${lines['monitor/health-monitor.ts']} lines`);
  });
});
