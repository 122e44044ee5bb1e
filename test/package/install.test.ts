// README's install route, as a newcomer takes it: npm pack in the clone, npm install of the
// tarball into a fresh app, then the package from ES modules, CommonJS and TypeScript (5 and 7,
// whose tsc no longer loads @types/node by itself); and a fresh clone's npm ci on the system
// Node, which is older than the package asks for on the machines the tests run on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_VERSION } from '../../src/common/version.ts';
import { packagesRefusing, warnedPackages } from './engines.ts';
import { BIN, ROOT, SHELL } from './shell.ts';

const execFileAsync = promisify(execFile);
const README = join(ROOT, 'README.md');
const quiet = { npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };
/** Node and npm as the npm scripts run them: on the Node 24 of the `node` devDependency. */
const dev: NodeJS.ProcessEnv = { ...SHELL, ...quiet, PATH: `${BIN}:${SHELL.PATH}` };
/** Node and npm as the system has them, before any npm ci. */
const system: NodeJS.ProcessEnv = { ...SHELL, ...quiet };

/** Runs a command to its end, bounded (a hung npm fails the test instead of stalling it); output is stdout and stderr. */
async function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 300_000): Promise<string> {
  const { stdout, stderr } = await execFileAsync(file, args, { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return `${stdout}${stderr}`;
}

const exists = (path: string) => stat(path).then(() => true, () => false);

type Lock = { packages: Record<string, { version?: string; engines?: { node?: string } }> };
const readLock = async (dir: string) => JSON.parse(await readFile(join(dir, 'package-lock.json'), 'utf8')) as Lock;
/** Every installed package's path and version (the app itself left out). */
const versions = (lock: Lock) => Object.fromEntries(Object.entries(lock.packages).filter(([path]) => path !== '').map(([path, p]) => [path, p.version]));

/** README's CommonJS snippet: the js block of the Install section that requires the package. */
async function readmeCommonJsSnippet(): Promise<string> {
  const readme = await readFile(README, 'utf8');
  const install = readme.slice(readme.indexOf('## Install'), readme.indexOf('\n## ', readme.indexOf('## Install') + 1));
  const block = [...install.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).find((code) => code.includes("require('conductor-health')"));
  assert.ok(block, "README's Install section has a js block that calls require('conductor-health')");
  return block;
}

describe('installing from a clone with npm pack', () => {
  let dir: string;
  let tarball: string;
  let app: string;
  let typescript: Record<'5' | '7', string>;

  // Packing builds dist/ (prepare) and installing fetches the dependencies and two compilers:
  // seconds from npm's cache, minutes on a cold one.
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-install-'));
    await run('npm', ['pack', '--pack-destination', dir], ROOT, dev);
    const tarballs = (await readdir(dir)).filter((f) => f.endsWith('.tgz'));
    assert.deepEqual(tarballs, [`conductor-health-${PACKAGE_VERSION}.tgz`]);
    tarball = join(dir, tarballs[0]!);

    // A fresh app as `npm init` writes it, made an ES module app; cjs/ below is the CommonJS one.
    app = join(dir, 'app');
    await mkdir(join(app, 'cjs'), { recursive: true });
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    await writeFile(join(app, 'cjs', 'package.json'), JSON.stringify({ name: 'cjs-app', version: '1.0.0', private: true, type: 'commonjs' }));
    await run('npm', ['install', '--prefer-offline', tarball, 'typescript-5@npm:typescript@5', 'typescript-7@npm:typescript@7'], app, dev);
    typescript = { 5: join(app, 'node_modules', 'typescript-5', 'bin', 'tsc'), 7: join(app, 'node_modules', 'typescript-7', 'bin', 'tsc') };
  }, { timeout: 600_000 });
  after(() => rm(dir, { recursive: true, force: true }));

  it('installs a tarball git ignores, which imports and runs as npx conductor-health', async () => {
    await run('git', ['check-ignore', '--quiet', '--no-index', `conductor-health-${PACKAGE_VERSION}.tgz`], ROOT, dev);
    const imported = await run('node', ['--input-type=module', '-e', "const m = await import('conductor-health'); console.log(typeof m.HealthMonitor, typeof m.startTelemetry, typeof m.PlatformCircuitBreaker)"], app, dev);
    assert.equal(imported.trim(), 'function function function');
    const version = await run('npx', ['--no-install', 'conductor-health', '--version'], app, dev);
    assert.equal(version.trim(), PACKAGE_VERSION);
    const help = await run('npx', ['--no-install', 'conductor-health', '--help'], app, dev);
    assert.match(help, /^Usage:\n {2}conductor-health run --config FILE/);
  });

  it('ships the MIT LICENSE and the CHANGELOG', async () => {
    const files = (await run('tar', ['-tzf', tarball], dir, dev)).split('\n');
    for (const file of ['package/LICENSE', 'package/CHANGELOG.md']) assert.ok(files.includes(file), `${file} in the tarball`);
    const installed = join(app, 'node_modules', 'conductor-health');
    const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { license: string };
    assert.equal(pkg.license, 'MIT');
    assert.match(await readFile(join(installed, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} conductor-health contributors\n/);
    assert.match(await readFile(join(installed, 'CHANGELOG.md'), 'utf8'), /^## \[Unreleased\]$/m);
  });

  it('ships every source its source maps name, and stack traces under --enable-source-maps lead to them', async () => {
    const installed = join(app, 'node_modules', 'conductor-health');
    const maps = (await readdir(join(installed, 'dist'), { recursive: true })).filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 0, 'dist/ holds source maps');
    const missing: string[] = [];
    for (const name of maps) {
      const map = JSON.parse(await readFile(join(installed, 'dist', name), 'utf8')) as { sourceRoot?: string; sources: string[] };
      for (const source of map.sources) {
        const file = resolve(installed, 'dist', dirname(name), map.sourceRoot ?? '', source);
        if (!file.startsWith(installed + sep) || !(await exists(file))) missing.push(`dist/${name}: ${source}`);
      }
    }
    assert.deepEqual(missing, [], 'sources named by a map and not shipped');

    const thrown = await run('node', ['--enable-source-maps', '--input-type=module', '-e', "import { HealthMonitor } from 'conductor-health'; try { new HealthMonitor({ intervalMs: -1 }); } catch (error) { console.log(error.stack); }"], app, dev);
    const frames = [...thrown.matchAll(/node_modules\/conductor-health\/([^:)\s]+):\d+:\d+/g)].map((m) => m[1]!);
    assert.ok(frames.length > 0, `frames inside the package: ${thrown}`);
    for (const frame of frames) {
      assert.match(frame, /^src\/.+\.ts$/, `a frame mapped to its TypeScript source: ${thrown}`);
      assert.ok(await exists(join(installed, frame)), `${frame} is shipped`);
    }
  });

  for (const [module, source, args] of [
    ['an ES module app (examples/library.ts)', 'library.ts', ['library.ts']],
    // README's CommonJS snippet, checked as the JavaScript it is.
    ["a CommonJS app (README's snippet)", 'cjs/index.js', ['--allowJs', '--checkJs', 'cjs/index.js']],
  ] as const) {
    it(`has types that compile in ${module} under TypeScript 5 and 7 with --strict --module nodenext`, async () => {
      await writeFile(join(app, source), source === 'library.ts' ? await readFile(join(ROOT, 'examples', 'library.ts'), 'utf8') : await readmeCommonJsSnippet());
      for (const [version, tsc] of Object.entries(typescript)) {
        const reported = await run('node', [tsc, '--version'], app, dev);
        assert.match(reported, new RegExp(`^Version ${version}\\.`), reported);
        const compiled = await run('node', [tsc, '--strict', '--module', 'nodenext', '--noEmit', ...args], app, dev).catch((error: { stdout?: string; message: string }) => error.stdout || error.message);
        assert.equal(compiled, '', `TypeScript ${version}:\n${compiled}`);
      }
    });
  }

  it("runs README's CommonJS snippet in a CommonJS app: require() loads the package, the monitor checks, SIGTERM ends it", async () => {
    const cjs = join(app, 'cjs');
    await writeFile(join(cjs, 'index.js'), await readmeCommonJsSnippet());
    // Port 0: any free port for /metrics, so the test never fights another process for 9464.
    const child = spawn('node', ['index.js'], { cwd: cjs, env: { ...dev, OTEL_EXPORTER_PROMETHEUS_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
        if (/: success$/m.test(stdout)) resolve();
      });
      child.once('exit', () => reject(new Error(`the app ended before a check: ${stdout}${stderr}`)));
    });
    child.kill('SIGTERM');
    // A safety bound, not a measurement: the app must end by itself, long before.
    const safety = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(safety);
    assert.equal(code, 0, `exited by itself with 0; stderr: ${stderr}`);
  });

  it('runs examples/library.ts in the app, which stops by itself once its flaky platform recovered', async () => {
    await copyFile(join(ROOT, 'examples', 'library.ts'), join(app, 'library.ts'));
    const out = await run('node', ['library.ts'], app, dev, 60_000);
    for (const line of [
      'billing: CLOSED → OPEN',
      'call to billing while open: refused: breaker open, failing fast',
      'billing: OPEN → HALF_OPEN',
      'billing: HALF_OPEN → CLOSED',
      'call to billing after recovery: done',
      'GET /livez 200',
      'GET /readyz 200',
      'GET /healthz 200 healthy',
      'health_check_total{platform="billing",status="failure"} 3',
    ]) {
      assert.ok(out.split('\n').includes(line), `"${line}" in:\n${out}`);
    }
  });

  it("installs with the system's npm and Node the same packages, warning EBADENGINE once per package whose engines that Node misses", async () => {
    const node = (await run('node', ['-p', 'process.versions.node'], dir, system)).trim();
    const older = join(dir, 'app-system-node');
    await mkdir(older);
    await writeFile(join(older, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    const output = await run('npm', ['install', '--prefer-offline', tarball], older, system);
    const lock = await readLock(older);
    assert.deepEqual(warnedPackages(output), packagesRefusing(lock, node), `Node ${node}:\n${output}`);
    // The app above also holds the two compilers; the packages both installs share must be the same versions.
    const dev24 = versions(await readLock(app));
    const shared = Object.fromEntries(Object.entries(dev24).filter(([path]) => path in versions(lock)));
    assert.deepEqual(versions(lock), shared, `Node ${node} installs what Node 24 installs`);
    const imported = await run('node', ['--input-type=module', '-e', "const m = await import('conductor-health'); console.log(typeof m.HealthMonitor)"], older, system);
    assert.equal(imported.trim(), 'function');
  });
});

describe("a fresh clone's npm ci on the system's Node and npm", () => {
  let clone: string;
  before(async () => {
    clone = await mkdtemp(join(tmpdir(), 'conductor-health-clone-'));
  });
  after(() => rm(clone, { recursive: true, force: true }));

  it('installs from the lock, builds with the Node 24 of the devDependency, and warns EBADENGINE only for the locked packages whose engines that Node misses', { timeout: 600_000 }, async () => {
    // What a clone holds: the files git tracks, plus new ones not ignored (this tree's work in progress).
    const files = (await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT, dev)).split('\0').filter((f) => f !== '');
    for (const file of files) {
      // Files only: one deleted in the work tree (not yet in git) is in no clone of it either.
      if (!(await lstat(join(ROOT, file)).then((s) => s.isFile(), () => false))) continue;
      await mkdir(dirname(join(clone, file)), { recursive: true });
      await copyFile(join(ROOT, file), join(clone, file));
    }
    const node = (await run('node', ['-p', 'process.versions.node'], clone, system)).trim();
    const output = await run('npm', ['ci', '--prefer-offline'], clone, system);
    assert.deepEqual(warnedPackages(output), packagesRefusing(await readLock(clone), node), `Node ${node}:\n${output}`);
    assert.ok(await exists(join(clone, 'dist', 'index.js')), 'prepare built dist/');
    const scripts = await run('npm', ['exec', '--offline', '-c', 'node -p process.versions.node'], clone, system);
    assert.match(scripts.trim(), /^24\./, 'npm scripts run on the Node of the devDependency');
  });
});
