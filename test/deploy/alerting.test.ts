/**
 * Alerts for real: a real Prometheus scrapes the running command and evaluates
 * the shipped deploy/alerts.yml (a copy with every `for:` shortened to 2 s), and
 * sends to a real Alertmanager, which notifies a webhook in this test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAlertmanager, type Alertmanager, type NotifiedAlert } from '../helpers/alertmanager.ts';
import { startCommand, type RunningCommand } from '../helpers/command.ts';
import { freePort } from '../helpers/ports.ts';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.ts';

const ALERTS = fileURLToPath(new URL('../../deploy/alerts.yml', import.meta.url));

describe('deploy/alerts.yml in a real Prometheus, through a real Alertmanager', () => {
  let dir: string;
  let port: number;
  let platform: Server | undefined;
  let command: RunningCommand;
  let alertmanager: Alertmanager;
  let prometheus: PrometheusHandle;
  let instance: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-alerting-'));
    const rules = join(dir, 'alerts.yml');
    const shipped = await readFile(ALERTS, 'utf8');
    assert.match(shipped, /for: 1m/, 'the shipped rules wait before firing');
    await writeFile(rules, shipped.replace(/for: \d+m/g, 'for: 2s'));

    // The platform is a TCP port nobody listens on until the test brings it up.
    port = await freePort();
    command = await startCommand(
      [
        'monitor: { intervalMs: 250, timeoutMs: 1000 }',
        'breaker: { failMax: 2, resetTimeoutMs: 1000 }',
        'resources: false',
        'targets:',
        `  - { name: payments, type: tcp, host: 127.0.0.1, port: ${port} }`,
      ].join('\n'),
    );
    instance = new URL(command.metricsUrl).host;
    alertmanager = await startAlertmanager();
    prometheus = await startPrometheus({ targets: [instance], ruleFiles: [rules], alertmanagers: [alertmanager.address] });
  });

  after(async () => {
    await prometheus?.stop();
    await alertmanager?.stop();
    await command?.stop();
    await new Promise((resolve) => (platform ? platform.close(resolve) : resolve(undefined)));
    await rm(dir, { recursive: true, force: true });
  });

  const firing = (name: string) => (a: NotifiedAlert) => a.status === 'firing' && a.labels.alertname === name && a.labels.platform === 'payments';

  it('notifies CircuitBreakerOpen for the down platform, with its platform, instance and job', async () => {
    const alert = await alertmanager.waitForAlert('CircuitBreakerOpen firing', firing('CircuitBreakerOpen'));
    assert.equal(alert.labels.instance, instance);
    assert.equal(alert.labels.job, 'conductor-health');
    assert.equal(alert.labels.severity, 'warning');
    assert.equal(alert.labels.state, undefined, 'the state label is dropped: open and half_open are one alert');
    assert.equal(alert.annotations.summary, 'Circuit breaker of payments is open');
  });

  it('notifies HealthChecksFailing with instance and job too, so with several conductors one can tell which fired', async () => {
    const alert = await alertmanager.waitForAlert('HealthChecksFailing firing', firing('HealthChecksFailing'));
    assert.equal(alert.labels.instance, instance);
    assert.equal(alert.labels.job, 'conductor-health');
  });

  it('resolves CircuitBreakerOpen once the platform is back', async () => {
    platform = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => platform!.listen(port, '127.0.0.1', resolve));
    const resolved = await alertmanager.waitForAlert('CircuitBreakerOpen resolved', (a) => a.status === 'resolved' && a.labels.alertname === 'CircuitBreakerOpen');
    assert.equal(resolved.labels.platform, 'payments');
    assert.equal(resolved.labels.instance, instance);
    const [closed] = await prometheus.query('circuit_breaker_state{platform="payments",state="closed"}');
    assert.equal(closed?.value[1], '1', 'the breaker is closed again');
  });
});
