// Area 3: the exporter's port already taken, Prometheus scraping while platforms
// come and go, and a scrape in the middle of stop(). Real sockets, real timers,
// every wait bounded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { getMetricsRegistry, startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { healthHandler, readinessHandler } from '../../src/http/probes.ts';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { parseExposition, type Exposition } from '../helpers/exposition.ts';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.ts';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';
import { prng, watchProcess, type ProcessWatch } from './fixtures/util.ts';

let watch: ProcessWatch;
before(() => void (watch = watchProcess()));
after(() => {
  watch.stop();
  assert.deepEqual(watch.unhandled, [], 'no unhandled rejection');
  assert.deepEqual(watch.warnings, [], 'no process warning');
});

const seriesKey = (s: { name: string; labels: Record<string, string> }): string => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;

/** Asserts what every scrape must satisfy, whatever the platforms are doing. */
function assertConsistent(scrape: Exposition, context: string): void {
  const seen = new Set<string>();
  for (const sample of scrape.samples) {
    const key = seriesKey(sample);
    assert.ok(!seen.has(key), `${context}: duplicate series ${key}`);
    seen.add(key);
    assert.ok(!Number.isNaN(Number(sample.value)), `${context}: ${key} = ${sample.value}`);
  }
  const states = new Map<string, number>();
  for (const s of scrape.samples) if (s.name === 'circuit_breaker_state') states.set(s.labels.platform!, (states.get(s.labels.platform!) ?? 0) + Number(s.value));
  // A monitored platform has exactly one state at 1; one that was unregistered has all three at 0.
  assert.ok(states.size > 0, `${context}: no circuit_breaker_state sample to check`);
  for (const [platform, ones] of states) assert.ok(ones === 1 || ones === 0, `${context}: ${platform} has ${ones} breaker states at 1`);
}

describe('the metrics port already taken', () => {
  it('a second startTelemetry() is refused with one clear error, and the first keeps the globals and keeps serving', async () => {
    const first = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    const port = Number(new URL(first.metricsUrl!).port);
    try {
      await assert.rejects(startTelemetry({ prometheusPort: port, hostMetrics: false }), {
        message: /^conductor-health: startTelemetry\(\) was already called and its telemetry is running; call its shutdown\(\) first/,
      });
      assert.equal(getMetricsRegistry(), first.registry);
      const response = await fetch(first.metricsUrl!);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /^# HELP /m);
    } finally {
      await first.shutdown();
    }
  });

  it('fails with one clear error naming the address when another server holds the port, registers nothing, and a free port works right after', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const error = await startTelemetry({ prometheusPort: port, hostMetrics: false }).then(
        async (t) => {
          await t.shutdown();
          return undefined;
        },
        (e: unknown) => e as Error & { cause?: { code?: string } },
      );
      assert.ok(error instanceof Error, 'the telemetry did not start');
      assert.match(error.message, new RegExp(`^conductor-health: cannot serve /metrics on 127\\.0\\.0\\.1:${port}: the address is already in use; change the prometheusPort option`));
      assert.equal(error.cause?.code, 'EADDRINUSE');
      assert.throws(() => getMetricsRegistry(), /call startTelemetry\(\) first/, 'nothing was registered');
      const telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
      assert.equal((await fetch(telemetry.metricsUrl!)).status, 200);
      await telemetry.shutdown();
    } finally {
      blocker.close();
    }
  });
});
describe('Prometheus scraping while platforms register and unregister', () => {
  let telemetry: Telemetry;
  let prometheus: PrometheusHandle;
  let monitor: HealthMonitor;

  before(async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    monitor = new HealthMonitor({ intervalMs: 50, timeoutMs: 40, resources: false, logger: silentLogger, breaker: { failMax: 2, resetTimeoutMs: 100 } });
    monitor.register('anchor', () => true);
    monitor.start();
    prometheus = await startPrometheus({ targets: [new URL(telemetry.metricsUrl!).host], scrapeIntervalMs: 500 });
    await prometheus.waitForTargetsUp();
  });
  after(async () => {
    await monitor?.stop();
    await prometheus?.stop();
    await telemetry?.shutdown();
  });

  it('serves consistent, promtool-clean scrapes to Prometheus and to a tight scrape loop while platforms churn', async () => {
    let churning = true;
    let registrations = 0;
    const random = prng(1_205);
    const registered = new Set<string>();
    const churn = (async () => {
      for (let i = 0; churning; i += 1) {
        // 40 names cycling (unregistered, then registered again with their counters going on) plus a new name now and then.
        const name = i % 7 === 0 ? `new-${i}` : `churn-${i % 40}`;
        if (registered.has(name)) {
          monitor.unregister(name);
          registered.delete(name);
        } else {
          monitor.register(name, () => random() < 0.7);
          registered.add(name);
          registrations += 1;
        }
        await sleep(2);
      }
    })();
    const scrapes: string[] = [];
    const scrapeLoop = async (): Promise<void> => {
      // Per loop: two loops' scrapes may complete out of order with each other.
      const previous = new Map<string, number>();
      while (churning) {
        const response = await fetch(telemetry.metricsUrl!);
        assert.equal(response.status, 200);
        const text = await response.text();
        scrapes.push(text);
        const scrape = parseExposition(text);
        assertConsistent(scrape, `scrape ${scrapes.length}`);
        for (const s of scrape.samples) {
          if (!s.name.endsWith('_total') && !s.name.endsWith('_count') && !s.name.endsWith('_bucket')) continue;
          const key = seriesKey(s);
          const value = Number(s.value);
          assert.ok(value >= (previous.get(key) ?? 0), `${key} went down to ${value}`);
          previous.set(key, value);
        }
      }
    };
    const started = Date.now();
    // A failing loop ends the churn at once; its error is rethrown below, never left unhandled.
    const failures: unknown[] = [];
    const guarded = (work: Promise<void>): Promise<void> => work.catch((error: unknown) => {
      failures.push(error);
      churning = false;
    });
    const running = [guarded(churn), guarded(scrapeLoop()), guarded(scrapeLoop())];
    // Churn until there is enough to judge — however long a loaded machine takes — and for at
    // least 3 s so Prometheus scrapes several times; the 60 s cap only keeps a wedged run finite.
    const enough = () => registrations > 200 && scrapes.length > 20 && Date.now() - started >= 3_000;
    while (churning && !enough() && Date.now() - started < 60_000) await sleep(100);
    const churnedEnough = enough();
    churning = false;
    await Promise.all(running);
    if (failures.length > 0) throw failures[0];
    const seconds = Math.max(5, Math.ceil((Date.now() - started) / 1000));

    assert.ok(churnedEnough, `${registrations} registrations and ${scrapes.length} local scrapes in 60 s`);
    for (const text of [scrapes[Math.floor(scrapes.length / 2)]!, scrapes.at(-1)!]) {
      const lint = await promtoolCheckMetrics(text);
      assert.equal(lint.code, 0, lint.output);
    }
    // Prometheus itself: up the whole time, scraping, and never a bad sample.
    const up = await prometheus.query(`min_over_time(up[${seconds}s])`);
    assert.equal(up[0]?.value[1], '1', 'the target never went down');
    const count = await prometheus.query(`count_over_time(up[${seconds}s])`);
    assert.ok(Number(count[0]?.value[1]) >= 5, `Prometheus scraped ${count[0]?.value[1]} times during the churn`);
    for (const failure of ['prometheus_target_scrapes_sample_duplicate_timestamp_total', 'prometheus_target_scrapes_sample_out_of_order_total', 'prometheus_target_scrapes_sample_out_of_bounds_total', 'prometheus_target_scrapes_exceeded_sample_limit_total']) {
      const result = await prometheus.query(failure);
      assert.equal(result[0]?.value[1] ?? '0', '0', failure);
    }
    const churned = await prometheus.query('count(count by (platform) (health_check_total{platform=~"churn-.*"}))');
    assert.ok(Number(churned[0]?.value[1]) >= 20, 'Prometheus saw the churning platforms');
    const anchor = await prometheus.query('circuit_breaker_state{platform="anchor",state="closed"}');
    assert.equal(anchor[0]?.value[1], '1');
  });
});

describe('a scrape in the middle of stop()', () => {
  it('answers /metrics, /healthz and /readyz while stop() waits for stuck checks, and counts nothing for the checks it cut off', async () => {
    const telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    const base = telemetry.metricsUrl!.replace(/\/metrics$/, '');
    const monitor = new HealthMonitor({ intervalMs: 200, timeoutMs: 5_000, stopTimeoutMs: 1_500, resources: false, logger: silentLogger });
    telemetry.route('/healthz', healthHandler(monitor));
    telemetry.route('/readyz', readinessHandler(monitor));
    let calls = 0;
    for (let i = 0; i < 20; i += 1) monitor.register(`ok-${i}`, () => true);
    // Checks that ignore their signal: stop() must wait for them, up to its bound.
    for (let i = 0; i < 20; i += 1) monitor.register(`stuck-${i}`, () => {
      calls += 1;
      return new Promise(() => {});
    });
    monitor.start();
    try {
      // Real sockets: wait for the stuck checks to be running (bounded), rather than for a guessed time.
      for (let i = 0; i < 300 && calls < 20; i += 1) await sleep(20);
      assert.equal(calls, 20, 'every stuck check is running');
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      const before = parseExposition(await (await fetch(`${base}/metrics`)).text());
      const stuckCounted = before.samples.filter((s) => s.name === 'health_check_total' && s.labels.platform?.startsWith('stuck-')).length;
      assert.equal(stuckCounted, 0, 'no stuck check has finished yet');

      let stopped = false;
      const stopping = monitor.stop().then(() => (stopped = true));
      const [metrics, health, ready] = await Promise.all([fetch(`${base}/metrics`), fetch(`${base}/healthz`), fetch(`${base}/readyz`)]);
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assertConsistent(parseExposition(text), 'scrape during stop()');
      const lint = await promtoolCheckMetrics(text);
      assert.equal(lint.code, 0, lint.output);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { running: boolean }).running, false);
      assert.equal(ready.status, 503, 'not ready while stopping');
      assert.equal(stopped, false, 'the scrape did not end the wait');

      // Its bound is proven on the fake clock (stop.test.ts); here it must simply end.
      await stopping;
      const afterStop = parseExposition(await (await fetch(`${base}/metrics`)).text());
      assertConsistent(afterStop, 'scrape after stop()');
      const cutOff = afterStop.samples.filter((s) => s.name === 'health_check_total' && s.labels.platform?.startsWith('stuck-'));
      assert.deepEqual(cutOff, [], 'checks cut off by stop() are not counted');
      assert.ok(afterStop.samples.some((s) => s.name === 'health_check_total' && s.labels.platform === 'ok-0'), 'the finished checks still are');
      assert.equal((await fetch(`${base}/readyz`)).status, 503);
    } finally {
      await monitor.stop();
      await telemetry.shutdown();
    }
  });
});
