/**
 * Alerts for real: a real Prometheus scrapes and evaluates the shipped
 * deploy/alerts.yml (a copy with every `for:` shortened to 2 s), and sends to a
 * real Alertmanager, which notifies a webhook in this test.
 *
 * First the running command, one process. Then three replicas of one cluster,
 * stood in for by servers that serve the metrics replicas export: the rules
 * are what is under test, over real scrapes (`up`, one `instance` each, series
 * going stale when a replica dies), and these need neither Redis nor three
 * copies of the command to do it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAlertmanager, type Alertmanager, type NotifiedAlert } from '../helpers/alertmanager.ts';
import { startCommand, type RunningCommand } from '../helpers/command.ts';
import { freePort } from '../helpers/ports.ts';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.ts';

const ALERTS = fileURLToPath(new URL('../../deploy/alerts.yml', import.meta.url));

/** The shipped rules in `dir` with every `for:` at 2 s. */
async function shortenedRules(dir: string): Promise<string> {
  const rules = join(dir, 'alerts.yml');
  const shipped = await readFile(ALERTS, 'utf8');
  assert.match(shipped, /for: 1m/, 'the shipped rules wait before firing');
  await writeFile(rules, shipped.replace(/for: \d+m/g, 'for: 2s'));
  return rules;
}

/** Matches a notified alert by status and name. */
const is = (status: NotifiedAlert['status'], name: string) => (a: NotifiedAlert) => a.status === status && a.labels.alertname === name;

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
    const rules = await shortenedRules(dir);

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

  it('notifies CircuitBreakerOpen for the down platform, with its platform and job, once per job however many instances', async () => {
    const alert = await alertmanager.waitForAlert('CircuitBreakerOpen firing', firing('CircuitBreakerOpen'));
    assert.equal(alert.labels.job, 'conductor-health');
    assert.equal(alert.labels.severity, 'warning');
    assert.equal(alert.labels.instance, undefined, 'replicas share the breaker: the instance label is aggregated away');
    assert.equal(alert.labels.state, undefined, 'the state label is dropped: open and half_open are one alert');
    assert.equal(alert.annotations.summary, 'Circuit breaker of payments is open');
    assert.match(alert.annotations.description ?? '', /\(job conductor-health\).*Instances showing it open or half-open: 1\.$/s);
  });

  it('notifies HealthChecksFailing with the job, summed over the instances that ran the checks', async () => {
    const alert = await alertmanager.waitForAlert('HealthChecksFailing firing', firing('HealthChecksFailing'));
    assert.equal(alert.labels.job, 'conductor-health');
    assert.equal(alert.labels.instance, undefined);
  });

  it('resolves CircuitBreakerOpen once the platform is back', async () => {
    platform = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => platform!.listen(port, '127.0.0.1', resolve));
    const resolved = await alertmanager.waitForAlert('CircuitBreakerOpen resolved', is('resolved', 'CircuitBreakerOpen'));
    assert.equal(resolved.labels.platform, 'payments');
    assert.equal(resolved.labels.job, 'conductor-health');
    const [closed] = await prometheus.query('circuit_breaker_state{platform="payments",state="closed"}');
    assert.equal(closed?.value[1], '1', 'the breaker is closed again');
  });

  it('never raises the replicas\' alerts for a single process', () => {
    const names = new Set(alertmanager.notified().map((a) => a.labels.alertname));
    assert.ok(names.has('CircuitBreakerOpen'), `notified: ${[...names].join(', ')}`);
    assert.ok(!names.has('ConductorHealthLocalMode') && !names.has('ConductorHealthMembersMissing'), `notified: ${[...names].join(', ')}`);
  });
});

/** What a replica exports that the replicas' alerts read; `members` undefined: a process without the cluster settings. */
interface ReplicaState {
  breaker: 'closed' | 'open' | 'half_open';
  members?: number;
  localMode?: 0 | 1;
}

/** A server on 127.0.0.1 answering /metrics with a replica's exposition text, from a state the test changes. */
class StandInReplica {
  state: ReplicaState = { breaker: 'open', members: 3, localMode: 0 };
  readonly port: number;
  private server: HttpServer | undefined;
  constructor(port: number) {
    this.port = port;
  }
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  exposition(): string {
    const lines = ['# TYPE circuit_breaker_state gauge'];
    for (const state of ['closed', 'open', 'half_open']) {
      lines.push(`circuit_breaker_state{platform="payments",state="${state}"} ${state === this.state.breaker ? 1 : 0}`);
    }
    if (this.state.members !== undefined) {
      lines.push('# TYPE health_cluster_members gauge', `health_cluster_members ${this.state.members}`);
      lines.push('# TYPE health_cluster_local_mode gauge', `health_cluster_local_mode ${this.state.localMode ?? 0}`);
    }
    return `${lines.join('\n')}\n`;
  }
  async start(): Promise<void> {
    const server = createHttpServer((request, response) => {
      response.writeHead(request.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain; version=0.0.4' });
      response.end(request.url === '/metrics' ? this.exposition() : '');
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }
  /** As a SIGKILL looks to Prometheus: the next scrape is refused. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('deploy/alerts.yml over three replicas of one cluster, in a real Prometheus and Alertmanager', () => {
  let dir: string;
  let replicas: StandInReplica[] = [];
  let alertmanager: Alertmanager;
  let prometheus: PrometheusHandle;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conductor-health-alerting-replicas-'));
    const rules = await shortenedRules(dir);
    for (let i = 0; i < 3; i += 1) {
      const replica = new StandInReplica(await freePort());
      await replica.start();
      replicas.push(replica);
    }
    alertmanager = await startAlertmanager();
    prometheus = await startPrometheus({ targets: replicas.map((r) => r.address), ruleFiles: [rules], alertmanagers: [alertmanager.address] });
    await prometheus.waitForTargetsUp();
  });

  after(async () => {
    await prometheus?.stop();
    await alertmanager?.stop();
    await Promise.all(replicas.map((r) => r.kill()));
    replicas = [];
    await rm(dir, { recursive: true, force: true });
  });

  /** Every alert of that name Prometheus holds, pending or firing. */
  const held = async (name: string) => prometheus.query(`ALERTS{alertname="${name}"}`);
  const notifiedLabelSets = (name: string): Set<string> =>
    new Set(
      alertmanager
        .notified()
        .filter(is('firing', name))
        .map((a) => JSON.stringify(Object.entries(a.labels).sort())),
    );
  // A few evaluations (1 s apart) past a 2 s `for`: what would fire has fired by then.
  const settle = () => sleep(4_000);

  it('notifies one CircuitBreakerOpen for a breaker the three replicas show open', async () => {
    const alert = await alertmanager.waitForAlert('CircuitBreakerOpen firing', is('firing', 'CircuitBreakerOpen'));
    assert.equal(alert.labels.instance, undefined);
    await prometheus.waitForQuery('count by (job, platform) (circuit_breaker_state{state=~"open|half_open"} == 1)', (r) => r[0]?.value[1] === '3', 10_000);
    await settle();
    assert.equal(notifiedLabelSets('CircuitBreakerOpen').size, 1, JSON.stringify(alertmanager.notified()));
    assert.equal((await held('CircuitBreakerOpen')).length, 1);
    assert.deepEqual(await held('ConductorHealthMembersMissing'), [], 'every replica sees three members');
  });

  it('raises ConductorHealthDown for a replica killed, not ConductorHealthMembersMissing, and keeps one CircuitBreakerOpen', async () => {
    const [first, second, third] = replicas as [StandInReplica, StandInReplica, StandInReplica];
    await third.kill();
    // A member TTL later the others no longer count it.
    first.state.members = 2;
    second.state.members = 2;
    const down = await alertmanager.waitForAlert('ConductorHealthDown firing', is('firing', 'ConductorHealthDown'));
    assert.equal(down.labels.instance, third.address);
    await settle();
    assert.deepEqual(await held('ConductorHealthMembersMissing'), [], 'a dead replica is ConductorHealthDown\'s alert');
    assert.equal(notifiedLabelSets('ConductorHealthMembersMissing').size, 0);
    assert.equal((await held('CircuitBreakerOpen')).length, 1);
    assert.equal(notifiedLabelSets('CircuitBreakerOpen').size, 1);
  });

  it('raises ConductorHealthMembersMissing for a replica running without the cluster settings', async () => {
    const third = replicas[2]!;
    // Back on its address, but alone: no Redis URL, its own breaker closed, no health_cluster_* series.
    third.state = { breaker: 'closed' };
    await third.start();
    const missing = await alertmanager.waitForAlert('ConductorHealthMembersMissing firing', is('firing', 'ConductorHealthMembersMissing'));
    assert.equal(missing.labels.job, 'conductor-health');
    assert.equal(missing.labels.instance, undefined, 'one alert for the job');
    assert.equal(missing.annotations.summary, '1 conductor-health replica(s) missing from the cluster');
    await alertmanager.waitForAlert('ConductorHealthDown resolved', is('resolved', 'ConductorHealthDown'));
  });

  it('raises ConductorHealthLocalMode for a replica cut off from Redis, and not ConductorHealthMembersMissing', async () => {
    const [first, second, third] = replicas as [StandInReplica, StandInReplica, StandInReplica];
    // The third joins again; then the second loses Redis and the other two stop seeing it.
    third.state = { breaker: 'open', members: 3, localMode: 0 };
    first.state.members = 3;
    second.state.members = 3;
    await alertmanager.waitForAlert('ConductorHealthMembersMissing resolved', is('resolved', 'ConductorHealthMembersMissing'));
    second.state.localMode = 1;
    first.state.members = 2;
    third.state.members = 2;
    const local = await alertmanager.waitForAlert('ConductorHealthLocalMode firing', is('firing', 'ConductorHealthLocalMode'));
    assert.equal(local.labels.instance, second.address);
    await settle();
    assert.deepEqual(await held('ConductorHealthMembersMissing'), [], 'ConductorHealthLocalMode names it');
    assert.equal(notifiedLabelSets('ConductorHealthLocalMode').size, 1, 'one replica in local mode, one alert');
  });
});
