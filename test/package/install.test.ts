// README's install route, as a newcomer takes it from a clone: npm pack, then
// npm install of the tarball into an app, then import it and run its command.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PACKAGE_VERSION } from '../../src/common/version.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// npm and npx run on the Node 24 of the `node` devDependency, as the npm scripts do.
const env = { ...process.env, PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`, npm_config_fund: 'false', npm_config_audit: 'false' };

describe('installing from a clone with npm pack', () => {
  let dir: string;
  let app: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-install-'));
    app = join(dir, 'app');
    await run('mkdir', [app]);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  // Packing builds dist/ (prepare) and installing fetches the dependencies: minutes on a cold cache.
  it('packs a tarball that installs into an app, imports, and runs as npx conductor-health', { timeout: 600_000 }, async () => {
    await run('npm', ['pack', '--pack-destination', dir], { cwd: ROOT, env });
    const tarballs = (await readdir(dir)).filter((f) => f.endsWith('.tgz'));
    assert.deepEqual(tarballs, [`conductor-health-${PACKAGE_VERSION}.tgz`]);

    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', join(dir, tarballs[0]!)], { cwd: app, env });

    const imported = await run('node', ['--input-type=module', '-e', "const m = await import('conductor-health'); console.log(typeof m.HealthMonitor, typeof m.startTelemetry, typeof m.PlatformCircuitBreaker)"], { cwd: app, env });
    assert.equal(imported.stdout.trim(), 'function function function');
    const version = await run('npx', ['--no-install', 'conductor-health', '--version'], { cwd: app, env });
    assert.equal(version.stdout.trim(), PACKAGE_VERSION);
    const help = await run('npx', ['--no-install', 'conductor-health', '--help'], { cwd: app, env });
    assert.match(help.stdout, /^Usage:\n {2}conductor-health run --config FILE/);
  });
});
