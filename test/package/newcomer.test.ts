// A newcomer's first hour: README's shutdown snippet lets the process exit,
// and the library keeps out of its host's stdout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers/child.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** The `process.once('SIGTERM', …)` block of a text, whitespace at line ends ignored. */
function sigtermHandler(text: string): string {
  const match = /^process\.once\('SIGTERM'[\s\S]*?^\}\);$/m.exec(text);
  assert.ok(match, 'a SIGTERM handler block');
  return match[0].replace(/[ \t]+$/gm, '');
}

describe("README's SIGTERM snippet", () => {
  it('is the handler the fixture runs', async () => {
    const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    assert.equal(sigtermHandler(readme), sigtermHandler(await readFile(fixture('sigterm-app.ts'), 'utf8')));
  });

  it('lets an app with its own server and a keep-alive client exit by itself on SIGTERM', async () => {
    const child = spawn(process.execPath, [fixture('sigterm-app.ts')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        const m = /ready (\d+)/.exec(String(d));
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error(`the app ended before it was ready: ${stderr}`)));
    });
    // A client that keeps its connection open, as a load balancer's does.
    assert.equal((await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'keep-alive' } })).status, 200);
    child.kill('SIGTERM');
    // A safety bound, not a measurement: the process must end by itself, long before.
    const safety = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(safety);
    assert.equal(code, 0, `exited by itself with 0; stderr: ${stderr}`);
  });
});

describe('the library without a logger', () => {
  it('writes nothing to stdout and only warnings (JSON) to stderr', async () => {
    const run = await runNode(fixture('quiet-library.ts'), { env: { LOG_LEVEL: 'debug' } });
    assert.ok(run.exitedByItself, run.stderr);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '', 'nothing on stdout');
    const lines = run.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.ok(lines.some((l) => l.msg === 'circuit breaker state change'), 'the breaker opening was said');
    for (const line of lines) assert.ok(line.level >= 40, `only warnings and errors: ${JSON.stringify(line)}`);
  });
});
