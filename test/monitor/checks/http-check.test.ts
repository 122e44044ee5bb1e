import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BodyMismatchError } from '../../../src/monitor/checks/errors.ts';
import { tcpCheck } from '../../../src/monitor/checks/tcp-check.ts';
import { httpCheck } from '../../../src/monitor/checks/http-check.ts';
import { HealthMonitor } from '../../../src/monitor/health-monitor.ts';
import { silentLogger, type Logger } from '../../../src/common/logger.ts';
import { find } from '../../helpers/exposition.ts';
import { setupOtel, type TestOtel } from '../../helpers/otel.ts';

/** A loopback server answering with `handler`; `url(path)` points at it. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: (path?: string, auth?: string) => string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: (path = '/', auth = '') => `http://${auth}127.0.0.1:${port}${path}` };
}

const signal = () => new AbortController().signal;

describe('the http check', () => {
  let otel: TestOtel;
  before(async () => (otel = await setupOtel()));
  after(() => otel.shutdown());

  it('reads at most maxBodyBytes of an endless body, fails the match, and stops the transfer', async () => {
    let closed!: () => void;
    const transferStopped = new Promise<void>((resolve) => (closed = resolve));
    let sent = 0;
    const { server, url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16_384, 'a');
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', closed);
      pump();
    });
    try {
      const check = httpCheck({ url: url(), bodyMatch: 'never there', maxBodyBytes: 100_000 });
      await assert.rejects(async () => check(signal()), (error: unknown) => {
        assert.ok(error instanceof BodyMismatchError);
        assert.match(error.message, /first 100000 bytes/);
        return true;
      });
      await transferStopped;
      assert.ok(sent < 10_000_000, `the server stopped being read after ${sent} bytes`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('finds a match within maxBodyBytes, and the default bound is 64 KiB', async () => {
    const { server, url } = await serve((_req, res) => res.end(`${'x'.repeat(70_000)} ok`));
    try {
      assert.equal(await httpCheck({ url: url(), bodyMatch: 'xxx' })(signal()), true);
      await assert.rejects(async () => httpCheck({ url: url(), bodyMatch: ' ok' })(signal()), /first 65536 bytes/);
    } finally {
      server.close();
    }
  });

  it('passes every time on the same body with a /g or /y bodyMatch', async () => {
    const { server, url } = await serve((_req, res) => res.end('status: ok'));
    try {
      for (const bodyMatch of [/ok/g, /status/y]) {
        const check = httpCheck({ url: url(), bodyMatch });
        for (let i = 0; i < 4; i += 1) assert.equal(await check(signal()), true, `${String(bodyMatch)}, call ${i + 1}`);
      }
    } finally {
      server.close();
    }
  });

  it('sends the credentials of the URL as Basic auth, and not in the URL', async () => {
    const seen: Array<{ authorization?: string; url?: string }> = [];
    const { server, url } = await serve((req, res) => {
      seen.push({ authorization: req.headers.authorization, url: req.url });
      res.end('ok');
    });
    try {
      assert.equal(await httpCheck({ url: url('/health', 'ops%40corp:s3cr%3At@') })(signal()), true);
      assert.deepEqual(seen, [{ authorization: `Basic ${Buffer.from('ops@corp:s3cr:t').toString('base64')}`, url: '/health' }]);
    } finally {
      server.close();
    }
  });

  it('never shows the password of a URL: not in /healthz lastError, spans or debug logs', async () => {
    // A port that was just free: the check fails with ECONNREFUSED, and its error names the URL's host.
    const { server, url } = await serve((_req, res) => res.end());
    const { port } = server.address() as { port: number };
    server.close();
    const lines: string[] = [];
    const logger: Logger = {
      debug: (obj) => void lines.push(JSON.stringify(obj)),
      info: (obj) => void lines.push(JSON.stringify(obj)),
      warn: (obj) => void lines.push(JSON.stringify(obj)),
      error: (obj) => void lines.push(JSON.stringify(obj)),
    };
    const monitor = new HealthMonitor({ resources: false, logger, tracer: otel.tracer });
    try {
      const target = url('/', 'user:hunter2@');
      assert.equal(target, `http://user:hunter2@127.0.0.1:${port}/`);
      monitor.register('secret', httpCheck({ url: target }));
      const result = await monitor.checkPlatformHealth('secret');
      assert.equal(result.status, 'failure');
      assert.match(result.error ?? '', /ECONNREFUSED|fetch failed/, 'fails for the closed port, not for the credentials');
      const report = JSON.stringify(monitor.report());
      const spans = JSON.stringify(otel.spans().filter((s) => s.attributes['health_check.platform'] === 'secret').map((s) => [s.status, s.events]));
      for (const [where, text] of [['report', report], ['spans', spans], ['logs', lines.join('\n')]] as const) {
        assert.ok(!text.includes('hunter2'), `${where}: ${text}`);
      }
    } finally {
      await monitor.stop();
    }
  });

  it('reports an unreachable target by the socket error fetch wraps: ECONNREFUSED in the error type, the message, the span and the metric', async () => {
    const { server, url } = await serve((_req, res) => res.end('ok'));
    const target = url('/health');
    server.close();
    await new Promise((resolve) => server.once('close', resolve));
    const monitor = new HealthMonitor({ resources: false, tracer: otel.tracer, logger: silentLogger });
    try {
      const result = await monitor.checkPlatformHealth('unreachable', httpCheck({ url: target }));
      assert.equal(result.errorType, 'ECONNREFUSED');
      assert.match(result.error!, /^fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
      const span = otel.spans().find((s) => s.attributes['health_check.platform'] === 'unreachable')!;
      const exception = span.events.find((e) => e.name === 'exception')!;
      assert.match(String(exception.attributes?.['exception.message']), /ECONNREFUSED/);
      const scraped = await otel.scrape();
      assert.equal(find(scraped, 'plugin_failure_total', { platform: 'unreachable', error_type: 'ECONNREFUSED' })[0]?.value, '1');
      assert.deepEqual(find(scraped, 'plugin_failure_total', { platform: 'unreachable', error_type: 'TypeError' }), []);
    } finally {
      await monitor.stop();
    }
  });

  it('declares its options once: a typo names the option it meant, a bad value names the option', () => {
    assert.throws(() => tcpCheck({ hots: 'a', port: 1 } as never), { code: 'EUNKNOWNOPTION', message: 'conductor-health: unknown tcpCheck option "hots"; did you mean "host"?' });
    assert.throws(() => tcpCheck({ host: 5, port: 'x' } as never), { name: 'TypeError', message: 'conductor-health: option "host" must be a non-empty string, got 5' });
    assert.throws(() => httpCheck({ url: 'http://x/', timeout: 5 } as never), { code: 'EUNKNOWNOPTION', message: /unknown httpCheck option "timeout"/ });
    assert.throws(() => httpCheck({ url: 'http://x/', expectStatus: '200-2999' }), { message: 'conductor-health: option "expectStatus" must be a status code or a range like "200-399", got "200-2999"' });
    assert.deepEqual([204, '200-399', { min: 200, max: 204 }].map((expectStatus) => typeof httpCheck({ url: 'http://x/', expectStatus })), ['function', 'function', 'function']);
  });

  it('refuses a URL that is not one, without quoting its password', () => {
    assert.throws(() => httpCheck({ url: 'http://user:hunter2@[bad/' }), (error: Error) => {
      assert.match(error.message, /option "url" must be an http: or https: URL, got "http:\/\/user:\*\*\*@\[bad\/"/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });
});
