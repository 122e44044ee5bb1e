/**
 * Checks of the operator files: otel-collector.yaml, deploy/prometheus.yml,
 * deploy/alerts.yml (+ its promtool unit tests), deploy/docker-compose.yaml,
 * the Grafana provisioning and deploy/grafana-dashboard.json.
 *
 * There is no Grafana or Docker here, so their files are checked
 * structurally; the Collector and Jaeger run for real in trace-path.test.ts,
 * which loads otel-collector.yaml itself. Prometheus files go through the real promtool, and
 * every dashboard query (and every alert expression) runs against a real
 * Prometheus scraping a real HealthMonitor.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { HealthMonitor } from '../../src/monitor/health-monitor.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { ResourceMonitor } from '../../src/resources/resource-monitor.ts';
import { startTelemetry, type Telemetry } from '../../src/telemetry/start-telemetry.ts';
import { startPrometheus, type PrometheusHandle, type PromSample } from '../helpers/prometheus.ts';
import { promtoolCheck } from '../helpers/promtool.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const RULE_TESTS = join(DEPLOY, 'tests');

// ---------------------------------------------------------------------------
// Narrowing helpers: parsed YAML/JSON is `unknown` until checked.

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function obj(value: unknown, what: string): Obj {
  assert.ok(isObj(value), `${what} must be a mapping, got ${JSON.stringify(value)}`);
  return value;
}
function arr(value: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(value), `${what} must be a list, got ${JSON.stringify(value)}`);
  return value;
}
function str(value: unknown, what: string): string {
  assert.equal(typeof value, 'string', `${what} must be a string, got ${JSON.stringify(value)}`);
  return value as string;
}
function strings(value: unknown, what: string): string[] {
  return arr(value, what).map((v, i) => str(v, `${what}[${i}]`));
}
function readYaml(path: string): Obj {
  // The compose file shares the replicas' settings through merge keys (<<), as
  // docker compose reads them; the yaml package applies them only when asked.
  return obj(parse(readFileSync(path, 'utf8'), { merge: true }), path);
}

// ---------------------------------------------------------------------------
// PromQL helpers.

/** Substitutes the Grafana variables the dashboard uses, as Grafana would with "All" selected. */
function substituteGrafanaVariables(expr: string): string {
  return expr
    .replaceAll(/\$\{platform\}|\$platform\b/g, '.*')
    .replaceAll('$__rate_interval', '10s')
    .replaceAll('$__interval', '10s')
    .replaceAll('$__range', '1m');
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'Inf', 'NaN']);
const HISTOGRAM_SUFFIX = /_(?:bucket|sum|count)$/;

/**
 * The metric names an expression selects (histogram series reduced to their
 * base name): strings, label matchers, ranges and grouping clauses are blanked
 * out, then every identifier that is not a function call or keyword is a metric.
 */
function metricNames(expr: string): Set<string> {
  const stripped = expr
    .replaceAll(/"(?:[^"\\]|\\.)*"/g, '""')
    .replaceAll(/\{[^}]*\}/g, ' ')
    .replaceAll(/\[[^\]]*\]/g, ' ')
    .replaceAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.])[A-Za-z_:][\w:]*/g)) {
    const rest = stripped.slice(match.index + match[0].length).trimStart();
    if (rest.startsWith('(') || PROMQL_KEYWORDS.has(match[0])) continue;
    names.add(match[0].replace(HISTOGRAM_SUFFIX, ''));
  }
  return names;
}

// ---------------------------------------------------------------------------
// Files loaded at module level, because tests are generated per panel and per rule test file.

interface Alert {
  name: string;
  expr: string;
}
function loadAlerts(): Alert[] {
  const doc = readYaml(join(DEPLOY, 'alerts.yml'));
  return arr(doc.groups, 'groups').flatMap((group, g) =>
    arr(obj(group, `groups[${g}]`).rules, `groups[${g}].rules`)
      .map((rule, r) => obj(rule, `groups[${g}].rules[${r}]`))
      .filter((rule) => rule.alert !== undefined)
      .map((rule) => ({ name: str(rule.alert, 'alert'), expr: str(rule.expr, `${String(rule.alert)}.expr`) })),
  );
}
const ALERTS = loadAlerts();
const RULE_TEST_FILES = readdirSync(RULE_TESTS).filter((f) => f.endsWith('.test.yml')).sort();

interface PanelTarget {
  refId: string;
  expr: string;
}
interface Panel {
  title: string;
  type: string;
  targets: PanelTarget[];
}
const DASHBOARD = obj(JSON.parse(readFileSync(join(DEPLOY, 'grafana-dashboard.json'), 'utf8')), 'dashboard');
/** Every panel, including those nested in collapsed rows. */
function loadPanels(): Panel[] {
  const raw = arr(DASHBOARD.panels, 'panels').map((p, i) => obj(p, `panels[${i}]`));
  const all = raw.flatMap((p) => [p, ...(Array.isArray(p.panels) ? p.panels.map((q, i) => obj(q, `row panel ${i}`)) : [])]);
  return all
    .filter((p) => p.type !== 'row') // rows are layout: they hold no queries
    .map((p) => {
      const title = str(p.title, 'panel title');
      const targets = arr(p.targets ?? [], `${title}.targets`).map((t, i) => {
        const target = obj(t, `${title}.targets[${i}]`);
        return { refId: str(target.refId, `${title}.targets[${i}].refId`), expr: str(target.expr, `${title}.targets[${i}].expr`) };
      });
      return { title, type: str(p.type, `${title}.type`), targets };
    });
}
const PANELS = loadPanels();

// ---------------------------------------------------------------------------

describe('the OpenTelemetry Collector configuration (otel-collector.yaml)', () => {
  const config = readYaml(join(ROOT, 'otel-collector.yaml'));
  const section = (name: string): Obj => obj(config[name], name);
  const service = section('service');
  const pipelines = obj(service.pipelines, 'service.pipelines');
  const pipeline = (name: string): Obj => obj(pipelines[name], `pipeline ${name}`);
  const componentType = (id: string): string => id.split('/')[0] ?? id;
  /** The address in `${env:NAME:-default}`: the file takes each address from the environment, with the compose value as default. */
  const address = (value: unknown, variable: string): string => {
    const match = /^\$\{env:([A-Z_]+):-([^}]+)\}$/.exec(str(value, variable));
    assert.ok(match, `${variable}: ${String(value)} is \${env:${variable}:-default}`);
    assert.equal(match[1], variable);
    return match[2]!;
  };

  it('defines every receiver, processor and exporter that a pipeline names', () => {
    assert.ok(Object.keys(pipelines).length > 0, 'at least one pipeline');
    for (const [name, value] of Object.entries(pipelines)) {
      assert.match(name, /^(traces|metrics|logs)(\/[\w.-]+)?$/, `pipeline id ${name} must be <signal>[/<name>]`);
      const p = obj(value, `pipeline ${name}`);
      for (const kind of ['receivers', 'processors', 'exporters']) {
        const ids = strings(p[kind] ?? [], `${name}.${kind}`);
        if (kind !== 'processors') assert.ok(ids.length > 0, `${name} needs at least one of ${kind}`);
        const defined = obj(config[kind] ?? {}, kind);
        for (const id of ids) assert.ok(id in defined, `pipeline ${name} names ${kind.slice(0, -1)} "${id}", which is not defined under ${kind}`);
      }
    }
  });

  it('defines every extension that service.extensions enables', () => {
    const enabled = strings(service.extensions, 'service.extensions');
    assert.ok(enabled.includes('health_check'), 'health_check is enabled');
    for (const id of enabled) assert.ok(id in section('extensions'), `extension "${id}" is not defined`);
    assert.equal(address(obj(section('extensions').health_check, 'health_check').endpoint, 'COLLECTOR_HEALTH_ENDPOINT'), '0.0.0.0:13133');
  });

  it('sends traces to Jaeger over OTLP as the last exporter of the traces pipeline', () => {
    const exporters = strings(pipeline('traces').exporters, 'traces.exporters');
    const last = exporters.at(-1);
    assert.ok(last !== undefined && last.startsWith('otlp'), `last traces exporter is an otlp exporter, got ${String(last)}`);
    assert.equal(componentType(last), 'otlp_grpc', 'OTLP/gRPC exporter (Jaeger listens for gRPC on 4317)');
    const jaeger = obj(section('exporters')[last], `exporters.${last}`);
    assert.equal(address(jaeger.endpoint, 'JAEGER_OTLP_ENDPOINT'), 'jaeger:4317');
    assert.equal(obj(jaeger.tls, `${last}.tls`).insecure, true, 'plain gRPC inside the compose network');
    assert.ok(exporters.includes('debug'), 'debug exporter in the traces pipeline');
    assert.equal(obj(section('exporters').debug, 'exporters.debug').verbosity, 'basic');
  });

  it('re-exports the metrics pipeline through the prometheus exporter on 8889', () => {
    const metricsPipelines = Object.keys(pipelines).filter((n) => componentType(n) === 'metrics');
    const withPrometheus = metricsPipelines.filter((n) =>
      strings(pipeline(n).exporters, `${n}.exporters`).some((id) => componentType(id) === 'prometheus'),
    );
    assert.ok(withPrometheus.length > 0, `a metrics pipeline exports through prometheus (metrics pipelines: ${metricsPipelines.join(', ')})`);
    assert.equal(address(obj(section('exporters').prometheus, 'exporters.prometheus').endpoint, 'COLLECTOR_PROMETHEUS_ENDPOINT'), '0.0.0.0:8889');
  });

  it('receives OTLP over gRPC on 4317 and HTTP on 4318 on all interfaces', () => {
    const protocols = obj(obj(section('receivers').otlp, 'receivers.otlp').protocols, 'otlp.protocols');
    assert.equal(address(obj(protocols.grpc, 'otlp.protocols.grpc').endpoint, 'COLLECTOR_OTLP_GRPC_ENDPOINT'), '0.0.0.0:4317');
    assert.equal(address(obj(protocols.http, 'otlp.protocols.http').endpoint, 'COLLECTOR_OTLP_HTTP_ENDPOINT'), '0.0.0.0:4318');
    for (const name of Object.keys(pipelines)) {
      assert.ok(strings(pipeline(name).receivers, `${name}.receivers`).includes('otlp'), `${name} receives OTLP`);
    }
  });

  it('runs memory_limiter first and batch after it in every pipeline', () => {
    const limiter = obj(section('processors').memory_limiter, 'processors.memory_limiter');
    assert.ok(typeof limiter.check_interval === 'string' && limiter.check_interval !== '', 'memory_limiter.check_interval');
    assert.ok(typeof limiter.limit_percentage === 'number' && typeof limiter.spike_limit_percentage === 'number');
    assert.ok(limiter.spike_limit_percentage < limiter.limit_percentage, 'spike limit below the hard limit');
    for (const name of Object.keys(pipelines)) {
      const processors = strings(pipeline(name).processors, `${name}.processors`);
      assert.equal(processors[0], 'memory_limiter', `${name}: memory_limiter first`);
      assert.ok(processors.indexOf('batch') > 0, `${name}: batch after memory_limiter`);
    }
  });
});

describe('the Prometheus configuration and alert rules (promtool)', () => {
  it('passes promtool check config, which also checks the rule files it names', async () => {
    const config = readYaml(join(DEPLOY, 'prometheus.yml'));
    assert.deepEqual(strings(config.rule_files, 'rule_files'), ['alerts.yml']);
    const { code, output } = await promtoolCheck(['check', 'config', join(DEPLOY, 'prometheus.yml')]);
    assert.equal(code, 0, output);
    assert.match(output, /1 rule files found/);
  });

  it('scrapes the three replicas on 9464, each a target of job conductor-health, and the collector on 8889 every 15 s', () => {
    const config = readYaml(join(DEPLOY, 'prometheus.yml'));
    const global = obj(config.global, 'global');
    assert.equal(global.scrape_interval, '15s');
    assert.equal(global.evaluation_interval, '15s');
    const jobs = Object.fromEntries(
      arr(config.scrape_configs, 'scrape_configs').map((j, i) => {
        const job = obj(j, `scrape_configs[${i}]`);
        const targets = arr(job.static_configs, 'static_configs').flatMap((s) => strings(obj(s, 'static_config').targets, 'targets'));
        return [str(job.job_name, 'job_name'), targets];
      }),
    );
    assert.deepEqual(jobs, {
      'conductor-health': ['replica-1:9464', 'replica-2:9464', 'replica-3:9464'],
      'otel-collector': ['otel-collector:8889'],
    });
  });

  it('passes promtool check rules for alerts.yml', async () => {
    const { code, output } = await promtoolCheck(['check', 'rules', join(DEPLOY, 'alerts.yml')]);
    assert.equal(code, 0, output);
  });

  it('defines the required alerts with a severity, a for duration and annotations', () => {
    const doc = readYaml(join(DEPLOY, 'alerts.yml'));
    const rules = arr(doc.groups, 'groups').flatMap((g) => arr(obj(g, 'group').rules, 'rules').map((r) => obj(r, 'rule')));
    const byName = new Map(rules.map((r) => [str(r.alert, 'alert'), r]));
    const expected: Record<string, string> = {
      CircuitBreakerOpen: 'warning',
      HealthChecksFailing: 'warning',
      SystemResourcesHigh: 'warning',
      HealthMonitorDegraded: 'warning',
      ConductorHealthDown: 'critical',
      ConductorHealthLocalMode: 'warning',
      ConductorHealthMembersMissing: 'warning',
    };
    for (const [name, severity] of Object.entries(expected)) {
      const rule = byName.get(name);
      assert.ok(rule, `alert ${name} is defined`);
      assert.equal(obj(rule.labels, `${name}.labels`).severity, severity, `${name} severity`);
      assert.match(str(rule.for, `${name}.for`), /^\d+[smh]$/, `${name} has a for duration`);
      const annotations = obj(rule.annotations, `${name}.annotations`);
      str(annotations.summary, `${name}.summary`);
      str(annotations.description, `${name}.description`);
    }
    for (const name of ['CircuitBreakerOpen', 'HealthChecksFailing']) {
      assert.match(str(obj(byName.get(name)?.annotations, name).summary, name), /\{\{ \$labels\.platform \}\}/);
    }
  });

  it('has exactly one promtool test file per alert, each with a firing and a silent case', () => {
    const tested = new Map<string, string>();
    for (const file of RULE_TEST_FILES) {
      const doc = readYaml(join(RULE_TESTS, file));
      assert.deepEqual(strings(doc.rule_files, `${file} rule_files`), ['../alerts.yml'], `${file} loads ../alerts.yml`);
      const cases = arr(doc.tests, `${file} tests`).flatMap((t, i) =>
        arr(obj(t, `${file} tests[${i}]`).alert_rule_test, `${file} tests[${i}].alert_rule_test`).map((c) => obj(c, 'alert_rule_test')),
      );
      const names = new Set(cases.map((c) => str(c.alertname, `${file} alertname`)));
      assert.equal(names.size, 1, `${file} tests exactly one alert, got ${[...names].join(', ')}`);
      const name = [...names][0];
      assert.ok(name !== undefined);
      assert.ok(!tested.has(name), `${name} is tested by both ${tested.get(name)} and ${file}`);
      tested.set(name, file);
      const firing = cases.filter((c) => arr(c.exp_alerts ?? [], 'exp_alerts').length > 0);
      const silent = cases.filter((c) => arr(c.exp_alerts ?? [], 'exp_alerts').length === 0);
      assert.ok(firing.length > 0, `${file} has a case where ${name} fires`);
      assert.ok(silent.length > 0, `${file} has a case where ${name} must not fire`);
    }
    assert.deepEqual([...tested.keys()].sort(), ALERTS.map((a) => a.name).sort(), 'one test file per alert in alerts.yml');
  });

  for (const file of RULE_TEST_FILES) {
    it(`passes promtool test rules for tests/${file}`, async () => {
      // cwd deploy/tests: rule_files resolve relative to the test file either way.
      const { code, output } = await promtoolCheck(['test', 'rules', file], { cwd: RULE_TESTS });
      assert.equal(code, 0, output);
      assert.match(output, /SUCCESS/);
    });
  }
});

describe('the docker compose stack (deploy/docker-compose.yaml)', () => {
  const compose = readYaml(join(DEPLOY, 'docker-compose.yaml'));
  const services = obj(compose.services, 'services');
  const service = (name: string): Obj => obj(services[name], `services.${name}`);

  interface Mount {
    service: string;
    source: string;
    target: string;
  }
  /** Bind mounts of host paths (short `src:dst[:mode]` or long syntax); named and anonymous volumes are skipped. */
  const bindMounts: Mount[] = Object.keys(services).flatMap((name) =>
    arr(service(name).volumes ?? [], `${name}.volumes`).flatMap((v): Mount[] => {
      if (isObj(v)) {
        return v.type === 'bind' ? [{ service: name, source: str(v.source, 'source'), target: str(v.target, 'target') }] : [];
      }
      const [source, target] = str(v, `${name} volume`).split(':');
      if (source === undefined || target === undefined) return []; // anonymous volume
      if (!/^[./~]/.test(source)) return []; // named volume
      return [{ service: name, source, target }];
    }),
  );
  const mountOf = (name: string, file: string): Mount | undefined =>
    bindMounts.find((m) => m.service === name && resolve(DEPLOY, m.source) === resolve(ROOT, file));
  const environment = (name: string): Record<string, string> => {
    const env = service(name).environment ?? {};
    if (Array.isArray(env)) {
      return Object.fromEntries(strings(env, `${name}.environment`).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    }
    return Object.fromEntries(Object.entries(obj(env, `${name}.environment`)).map(([k, v]) => [k, String(v)]));
  };

  const REPLICAS = ['replica-1', 'replica-2', 'replica-3'];
  /** A service's command as arguments (list form, or a string split on spaces). */
  const commandOf = (name: string): string[] => {
    const command = service(name).command;
    return Array.isArray(command) ? strings(command, `${name}.command`) : str(command, `${name}.command`).split(/\s+/);
  };
  const dependsOn = (name: string): Obj => obj(service(name).depends_on, `${name}.depends_on`);
  const replicaConfig = (): Obj => readYaml(join(ROOT, 'examples/replicas.yaml'));

  it('defines the services, each with an image: three replicas, Redis, a build step and the peers', () => {
    for (const name of ['build', 'redis', ...REPLICAS, 'otel-collector', 'jaeger', 'prometheus', 'grafana']) {
      str(service(name).image, `${name}.image`);
    }
    assert.deepEqual(Object.keys(services).filter((name) => name.startsWith('replica-')), REPLICAS, 'exactly three replicas');
    assert.match(str(service('jaeger').image, 'jaeger.image'), /^jaegertracing\/jaeger:/, 'Jaeger v2 image');
  });

  it('pins the versions CI runs: Node from the lock file, Debian\'s Redis, the Collector and Jaeger .ci/peers.sh builds, Debian\'s Prometheus', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
    for (const name of ['build', ...REPLICAS]) {
      assert.equal(service(name).image, `node:${lock.packages['node_modules/node']!.version}-bookworm-slim`, name);
    }
    // The image tag names the minor release: the tests' redis-server is 7.0.x.
    const redis = /\bv=(\d+\.\d+)\.\d+/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1];
    assert.equal(service('redis').image, `redis:${redis}`);
    const manifest = readFileSync(join(ROOT, 'test/peers/collector/manifest.yaml'), 'utf8');
    const contrib = /opentelemetry-collector-contrib\/\S+ v(\d+\.\d+\.\d+)/.exec(manifest)?.[1];
    assert.equal(service('otel-collector').image, `otel/opentelemetry-collector-contrib:${contrib}`);
    // Jaeger tags its v2 releases 2.x and its Go module 1.x: v1.76.0 is 2.13.0.
    assert.match(readFileSync(join(ROOT, 'test/peers/jaeger/go.mod'), 'utf8'), /github\.com\/jaegertracing\/jaeger v1\.76\.0\b/);
    assert.equal(service('jaeger').image, 'jaegertracing/jaeger:2.13.0');
    const prometheus = /version (\d+\.\d+\.\d+)/.exec(execFileSync('prometheus', ['--version'], { encoding: 'utf8' }))?.[1];
    assert.equal(service('prometheus').image, `prom/prometheus:v${prometheus}`);
  });

  it('mounts only files and directories that exist in the repository', () => {
    assert.ok(bindMounts.length >= 9, `bind mounts found: ${JSON.stringify(bindMounts)}`);
    for (const m of bindMounts) {
      assert.ok(existsSync(resolve(DEPLOY, m.source)), `${m.service} mounts ${m.source} (resolved ${resolve(DEPLOY, m.source)}), which does not exist`);
    }
  });

  it('mounts each configuration where its program reads it', () => {
    // The collector: --config must point at the mounted otel-collector.yaml.
    const collectorMount = mountOf('otel-collector', 'otel-collector.yaml');
    assert.ok(collectorMount, 'otel-collector.yaml is mounted into the collector');
    assert.ok(commandOf('otel-collector').includes(`--config=${collectorMount.target}`), `collector command ${JSON.stringify(commandOf('otel-collector'))} reads ${collectorMount.target}`);

    // Each replica: --config names examples/replicas.yaml inside the repository's mount.
    for (const name of REPLICAS) {
      const repository = mountOf(name, '.');
      assert.ok(repository, `${name} mounts the repository`);
      const args = commandOf(name);
      const config = args[args.indexOf('--config') + 1];
      assert.ok(config !== undefined && config.startsWith(`${repository.target}/`), `${name} reads its config (${String(config)}) from the mounted repository`);
      assert.equal(resolve(ROOT, posix.relative(repository.target, config)), join(ROOT, 'examples/replicas.yaml'), `${name} runs examples/replicas.yaml`);
    }

    // Prometheus: rule_files are relative to prometheus.yml, so alerts.yml must sit next to it.
    const promConfig = mountOf('prometheus', 'deploy/prometheus.yml');
    const promRules = mountOf('prometheus', 'deploy/alerts.yml');
    assert.ok(promConfig && promRules, 'prometheus.yml and alerts.yml are mounted');
    assert.equal(posix.dirname(promRules.target), posix.dirname(promConfig.target));
    assert.equal(posix.basename(promRules.target), 'alerts.yml');
    const promArgs = strings(service('prometheus').command ?? [`--config.file=${promConfig.target}`], 'prometheus.command');
    assert.ok(promArgs.includes(`--config.file=${promConfig.target}`), 'prometheus reads the mounted config');

    // Grafana: provisioning directory, and the dashboard in the provider's path.
    const provisioning = mountOf('grafana', 'deploy/grafana/provisioning');
    assert.equal(provisioning?.target, '/etc/grafana/provisioning');
    const dashboard = mountOf('grafana', 'deploy/grafana-dashboard.json');
    assert.ok(dashboard, 'the dashboard JSON is mounted into grafana');
    const providers = arr(readYaml(join(DEPLOY, 'grafana/provisioning/dashboards/dashboards.yml')).providers, 'providers');
    const paths = providers.map((p) => obj(obj(p, 'provider').options, 'provider.options').path);
    assert.deepEqual(paths, ['/var/lib/grafana/dashboards']);
    assert.equal(posix.dirname(dashboard.target), '/var/lib/grafana/dashboards');
    assert.ok(dashboard.target.endsWith('.json'));
  });

  it('builds once, then runs the three replicas of the command on the built dist/ and the same packages', () => {
    assert.equal(service('build').working_dir, '/app');
    assert.equal(mountOf('build', '.')?.target, '/app', 'the build writes dist/ into the mounted repository');
    assert.deepEqual(commandOf('build'), ['npm', 'ci'], 'npm ci installs the lock and builds dist/ (prepare)');
    const volumesOf = (name: string): string[] => strings(service(name).volumes, `${name}.volumes`);
    const nodeModules = volumesOf('build').find((v) => v.endsWith(':/app/node_modules'));
    assert.ok(nodeModules, 'the build installs into a node_modules volume');
    assert.ok(nodeModules.split(':')[0]! in obj(compose.volumes, 'volumes'), `${nodeModules} is a named volume the replicas can share`);
    for (const name of REPLICAS) {
      assert.equal(service(name).working_dir, '/app', name);
      assert.deepEqual(commandOf(name), ['node', 'dist/cli/main.js', 'run', '--config', '/app/examples/replicas.yaml'], `${name} runs the command, not the demo`);
      assert.ok(volumesOf(name).includes(nodeModules), `${name} uses the packages the build installed`);
      assert.deepEqual(obj(dependsOn(name).build, `${name} depends_on build`).condition, 'service_completed_successfully', `${name} starts once dist/ is built`);
    }
  });

  it('points every replica at the redis service through the same config, each with its own service.instance.id', () => {
    const cluster = obj(replicaConfig().cluster, 'examples/replicas.yaml cluster');
    const url = new URL(str(cluster.redisUrl, 'cluster.redisUrl'));
    assert.equal(url.protocol, 'redis:');
    assert.equal(url.hostname, 'redis', 'the redis service, by name');
    assert.equal(url.port || '6379', '6379', 'the port redis-server listens on by default');
    assert.match(str(service('redis').image, 'redis.image'), /^redis:/);
    const redisArgs = commandOf('redis');
    assert.ok(!redisArgs.includes('--port'), 'redis keeps its default port');
    // Persistence off: `--save ""` and no append-only file.
    assert.equal(redisArgs[redisArgs.indexOf('--save') + 1], '', `redis command ${JSON.stringify(redisArgs)}`);
    assert.equal(redisArgs[redisArgs.indexOf('--appendonly') + 1], 'no');
    assert.ok(cluster.keyPrefix === undefined, 'one cluster: the replicas share the default keyPrefix');

    const ids = new Set<string>();
    for (const name of REPLICAS) {
      const env = environment(name);
      assert.equal(env.CONDUCTOR_HEALTH_REDIS_URL, undefined, `${name}: the Redis URL comes from the one config file`);
      assert.equal(env.OTEL_SERVICE_NAME, 'conductor-health', name);
      const attributes = Object.fromEntries(str(env.OTEL_RESOURCE_ATTRIBUTES, `${name} OTEL_RESOURCE_ATTRIBUTES`).split(',').map((kv) => kv.split('=') as [string, string]));
      const id = attributes['service.instance.id'];
      assert.equal(id, name, `${name}: service.instance.id names the replica`);
      ids.add(id);
      assert.ok(['service_healthy', 'service_started'].includes(str(obj(dependsOn(name).redis, `${name} depends_on redis`).condition, 'condition')), `${name} starts after redis`);
    }
    assert.equal(ids.size, REPLICAS.length, 'distinct ids: one member each');
  });

  it('gives the replicas targets they reach by service name', () => {
    const targets = arr(replicaConfig().targets, 'examples/replicas.yaml targets').map((t, i) => obj(t, `targets[${i}]`));
    assert.ok(targets.length >= 3, 'enough platforms for ownership to spread over three replicas');
    for (const target of targets) {
      const host = target.type === 'http' ? new URL(str(target.url, 'url')).hostname : str(target.host, 'host');
      assert.ok(host in services, `target ${String(target.name)} is on ${host}, a compose service (a replica's loopback has nothing on it)`);
    }
  });

  it('has Prometheus scrape every replica at its metrics port, under job conductor-health', () => {
    const prometheus = readYaml(join(DEPLOY, 'prometheus.yml'));
    const job = arr(prometheus.scrape_configs, 'scrape_configs')
      .map((j) => obj(j, 'job'))
      .find((j) => j.job_name === 'conductor-health');
    assert.ok(job, 'a conductor-health job, which ConductorHealthDown and ConductorHealthMembersMissing name');
    const targets = arr(job.static_configs, 'static_configs').flatMap((s) => strings(obj(s, 'static_config').targets, 'targets'));
    const expected = REPLICAS.map((name) => {
      const env = environment(name);
      assert.equal(env.OTEL_EXPORTER_PROMETHEUS_HOST, '0.0.0.0', `${name}: /metrics reachable from the prometheus container`);
      return `${name}:${env.OTEL_EXPORTER_PROMETHEUS_PORT}`;
    });
    assert.deepEqual(targets.sort(), expected.sort());
  });

  it('wires the replicas to the collector, the collector to Jaeger and Grafana to Prometheus by service name', () => {
    for (const name of REPLICAS) {
      assert.equal(environment(name).OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector:4318', `${name}: OTLP/HTTP port of the collector`);
    }

    const collector = readYaml(join(ROOT, 'otel-collector.yaml'));
    const jaegerEndpoint = str(obj(obj(collector.exporters, 'exporters')['otlp_grpc/jaeger'], 'otlp_grpc/jaeger').endpoint, 'endpoint').replace(/^\$\{env:\w+:-(.*)\}$/, '$1');
    assert.ok(jaegerEndpoint.split(':')[0]! in services, `collector exports to ${jaegerEndpoint}, a compose service`);

    const prometheus = readYaml(join(DEPLOY, 'prometheus.yml'));
    for (const job of arr(prometheus.scrape_configs, 'scrape_configs')) {
      for (const s of arr(obj(job, 'job').static_configs, 'static_configs')) {
        for (const target of strings(obj(s, 'static_config').targets, 'targets')) {
          assert.ok(target.split(':')[0]! in services, `scrape target ${target} is a compose service`);
        }
      }
    }

    const datasources = arr(readYaml(join(DEPLOY, 'grafana/provisioning/datasources/prometheus.yml')).datasources, 'datasources');
    const ds = obj(datasources[0], 'datasources[0]');
    assert.equal(ds.type, 'prometheus');
    assert.equal(new URL(str(ds.url, 'datasource url')).host, 'prometheus:9090');
  });

  it('publishes the documented ports, one host port per replica', () => {
    const ports = (name: string): string[] => arr(service(name).ports ?? [], `${name}.ports`).map(String);
    const published = (name: string): string[] => ports(name).map((p) => p.split(':').at(-1) ?? '');
    for (const name of REPLICAS) {
      assert.deepEqual(published(name), [environment(name).OTEL_EXPORTER_PROMETHEUS_PORT], `${name} publishes its metrics port`);
      // Its probe asks the port it listens on.
      assert.match(JSON.stringify(service(name).healthcheck), new RegExp(`127\\.0\\.0\\.1:${environment(name).OTEL_EXPORTER_PROMETHEUS_PORT}/livez`));
    }
    const hostPorts = REPLICAS.map((name) => ports(name)[0]!.split(':')[0]);
    assert.deepEqual(hostPorts, ['9464', '9465', '9466'], 'as the header comment lists them');
    assert.deepEqual(published('redis'), [], 'Redis stays inside the compose network');
    assert.deepEqual(published('otel-collector').sort(), ['13133', '4317', '4318', '8889']);
    assert.ok(published('jaeger').includes('16686'), 'Jaeger UI');
    assert.deepEqual(published('prometheus'), ['9090']);
    assert.deepEqual(published('grafana'), ['3000']);
  });

  it('says how to start it, and where each replica is, in a header comment', () => {
    const text = readFileSync(join(DEPLOY, 'docker-compose.yaml'), 'utf8');
    const header = text.slice(0, text.search(/^[^#\s]/m));
    assert.match(header, /docker compose -f deploy\/docker-compose\.yaml up/);
    for (const port of ['9464', '9465', '9466']) assert.match(header, new RegExp(`http://localhost:${port}/`));
  });
});

describe('the Grafana dashboard (deploy/grafana-dashboard.json)', () => {
  it('has a stable uid, a recent schema and a prometheus datasource variable', () => {
    assert.equal(DASHBOARD.uid, 'conductor-health');
    assert.equal(typeof DASHBOARD.schemaVersion, 'number');
    assert.ok((DASHBOARD.schemaVersion as number) >= 36, `schemaVersion ${String(DASHBOARD.schemaVersion)}`);
    const variables = arr(obj(DASHBOARD.templating, 'templating').list, 'templating.list').map((v) => obj(v, 'variable'));
    const datasource = variables.find((v) => v.name === 'datasource');
    assert.ok(datasource, 'a datasource variable');
    assert.equal(datasource.type, 'datasource');
    assert.equal(datasource.query, 'prometheus');
  });

  it('offers a multi-value platform variable with All, from health_check_total', () => {
    const variables = arr(obj(DASHBOARD.templating, 'templating').list, 'templating.list').map((v) => obj(v, 'variable'));
    const platform = variables.find((v) => v.name === 'platform');
    assert.ok(platform, 'a platform variable');
    assert.equal(platform.type, 'query');
    const query = isObj(platform.query) ? platform.query.query : platform.query;
    assert.equal(query, 'label_values(health_check_total, platform)');
    assert.equal(platform.multi, true);
    assert.equal(platform.includeAll, true);
    assert.equal(platform.allValue, '.*', 'All matches platforms that appear later too');
  });

  it('gives every panel at least one query, each with a refId unique in its panel', () => {
    assert.ok(PANELS.length >= 7, `${PANELS.length} panels`);
    const titles = new Set<string>();
    for (const panel of PANELS) {
      assert.ok(!titles.has(panel.title), `duplicate panel title ${panel.title}`);
      titles.add(panel.title);
      assert.ok(panel.targets.length > 0, `panel "${panel.title}" has a target`);
      for (const t of panel.targets) assert.notEqual(t.expr.trim(), '', `panel "${panel.title}" ${t.refId} has an expr`);
      const refIds = panel.targets.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `refIds of "${panel.title}" are unique`);
    }
  });

  it('covers every metric of the contract', () => {
    const referenced = new Set(PANELS.flatMap((p) => p.targets.flatMap((t) => [...metricNames(t.expr)])));
    for (const name of [
      'health_check_total',
      'health_check_duration_seconds',
      'circuit_breaker_state',
      'plugin_failure_total',
      'system_resources',
      'health_monitor_degraded',
      'health_check_skipped_total',
    ]) {
      assert.ok(referenced.has(name), `${name} is on the dashboard (referenced: ${[...referenced].sort().join(', ')})`);
    }
  });

  it('filters every per-platform query by $platform', () => {
    for (const panel of PANELS) {
      for (const t of panel.targets) {
        const perPlatform = /\b(health_check_total|health_check_duration_seconds_\w+|circuit_breaker_state|plugin_failure_total|health_check_skipped_total)\{([^}]*)\}/g;
        for (const match of t.expr.matchAll(perPlatform)) {
          assert.match(match[2] ?? '', /platform=~"\$platform"/, `"${panel.title}" ${t.refId}: ${match[0]}`);
        }
      }
    }
  });
});

describe('the dashboard and alert queries against a real Prometheus scraping a running monitor', () => {
  let telemetry: Telemetry | undefined;
  let monitor: HealthMonitor | undefined;
  let resources: ResourceMonitor | undefined;
  let prometheus: PrometheusHandle | undefined;

  /** The query of `expr` (Grafana variables substituted): throws on a PromQL error. */
  const run = async (expr: string): Promise<PromSample[]> => {
    const promql = substituteGrafanaVariables(expr);
    assert.doesNotMatch(promql, /\$/, `unsubstituted variable in ${promql}`);
    assert.ok(prometheus);
    return prometheus.query(promql);
  };

  before(async () => {
    telemetry = await startTelemetry({ prometheusPort: 0, hostMetrics: false });
    resources = new ResourceMonitor({
      // Memory over the 0.8 threshold: system_resources >= 0.8 and degraded mode.
      sampler: () => ({ memory: 0.9, cpu: 0.1, disk: 0.2 }),
      intervalMs: 500,
      logger: silentLogger,
    });
    // A 1 s reset timeout: the down platform's breaker keeps letting a trial
    // through, so its failures keep counting as they would over minutes.
    monitor = new HealthMonitor({ intervalMs: 200, timeoutMs: 150, resources, breaker: { resetTimeoutMs: 1000 }, logger: silentLogger });
    let calls = 0;
    monitor.register('healthy', () => true);
    monitor.register('down', () => {
      throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    });
    monitor.register('flaky', () => (calls += 1) % 2 === 0);
    monitor.start();
    // Stall the event loop once, as a long GC pause or a synchronous call would,
    // so that scheduled slots are missed and health_check_skipped_total exists.
    await sleep(300);
    const stallUntil = Date.now() + 1_000;
    while (Date.now() < stallUntil) {
      /* busy */
    }

    const config = readYaml(join(DEPLOY, 'prometheus.yml'));
    const job = arr(config.scrape_configs, 'scrape_configs')
      .map((j) => obj(j, 'job'))
      .find((j) => JSON.stringify(j.static_configs).includes(':9464'));
    prometheus = await startPrometheus({
      targets: [new URL(telemetry.metricsUrl!).host],
      scrapeIntervalMs: 1000,
      jobName: str(job?.job_name, 'job scraping :9464'), // same job label as deploy/prometheus.yml
    });
    await prometheus.waitForTargetsUp();
    // rate() needs two scrapes inside its range.
    await prometheus.waitForQuery('count(rate(health_check_total[10s])) > 0', (r) => r.length > 0, 15_000);
  });

  after(async () => {
    await Promise.all([monitor?.stop(), resources?.stop()]);
    await prometheus?.stop();
    await telemetry?.shutdown();
  });

  for (const panel of PANELS) {
    it(`answers every query of the panel "${panel.title}" with at least one series`, async () => {
      for (const { refId, expr } of panel.targets) {
        const result = await run(expr);
        assert.ok(result.length > 0, `${refId}: ${substituteGrafanaVariables(expr)} returned no series`);
        const finite = result.filter((s) => Number.isFinite(Number(s.value[1])));
        assert.ok(finite.length > 0, `${refId}: no finite value in ${JSON.stringify(result)}`);
      }
    });
  }

  it('shows the down platform as open and the healthy one as closed in the breaker state panel', async () => {
    const panel = PANELS.find((p) => p.type === 'state-timeline' || /breaker state/i.test(p.title));
    assert.ok(panel, 'a breaker state panel');
    const states = new Map((await run(panel.targets[0]!.expr)).map((s) => [s.metric.platform, Number(s.value[1])]));
    assert.equal(states.get('healthy'), 0, 'closed');
    // Open (2), or half_open (1) while a trial runs.
    assert.ok(states.get('down') === 2 || states.get('down') === 1, `down: ${String(states.get('down'))}`);
  });

  it('selects exactly what each alert expression should on real metrics (before its for duration)', async () => {
    const expr = (name: string): string => {
      const alert = ALERTS.find((a) => a.name === name);
      assert.ok(alert, `alert ${name}`);
      return alert.expr;
    };
    const labelValues = (samples: PromSample[], label: string): string[] => samples.map((s) => s.metric[label] ?? '').sort();

    const open = await prometheus!.waitForQuery(expr('CircuitBreakerOpen'), (r) => r.length > 0, 10_000);
    assert.deepEqual(labelValues(open, 'platform'), ['down']);
    // One alert per job and platform, whatever the number of replicas; its value counts the instances showing it.
    assert.deepEqual(Object.keys(open[0]!.metric).sort(), ['job', 'platform']);
    assert.equal(open[0]!.value[1], '1', 'one instance shows it open');
    // The flaky platform sits at a ratio of ~0.5, on the threshold: either way is right for it.
    const failingSamples = await prometheus!.waitForQuery(expr('HealthChecksFailing'), (r) => r.some((s) => s.metric.platform === 'down'), 10_000);
    const failing = labelValues(failingSamples, 'platform');
    assert.ok(!failing.includes('healthy'), `HealthChecksFailing selects ${failing.join(', ')}`);
    for (const sample of failingSamples) assert.deepEqual(Object.keys(sample.metric).sort(), ['job', 'platform']);
    assert.deepEqual(labelValues(await run(expr('SystemResourcesHigh')), 'resource'), ['memory']);
    assert.equal((await prometheus!.waitForQuery(expr('HealthMonitorDegraded'), (r) => r.length > 0, 10_000)).length, 1);
    assert.deepEqual(await run(expr('ConductorHealthDown')), [], 'the monitor is up');
    assert.equal((await run(expr('ConductorHealthDown').replace('== 0', '== 1'))).length, 1, 'the job label matches the scrape job');
    // A single process, without the cluster settings: the replicas' alerts select nothing,
    // while the scrape ConductorHealthMembersMissing counts (up == 1) is there.
    assert.deepEqual(await run(expr('ConductorHealthLocalMode')), []);
    assert.deepEqual(await run(expr('ConductorHealthMembersMissing')), []);
    assert.equal((await run('count by (job) (up{job="conductor-health"} == 1)'))[0]?.value[1], '1');
  });
});

describe('README "Running several replicas", held to the deploy files', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Running several replicas\n');
  const section = start < 0 ? '' : readme.slice(start, readme.indexOf('\n## ', start + 1));
  const rules = new Map(
    arr(readYaml(join(DEPLOY, 'alerts.yml')).groups, 'groups')
      .flatMap((g) => arr(obj(g, 'group').rules, 'rules').map((r) => obj(r, 'rule')))
      .map((r) => [str(r.alert, 'alert'), r]),
  );

  it('comes right after "Running the command"', () => {
    assert.ok(start >= 0, 'README has the section');
    assert.match(readme.slice(0, start), /\n## Running the command\n(?![\s\S]*\n## )/, 'the section before it is "Running the command"');
  });

  it('names every alert of alerts.yml, and says the `for` of the replicas\' two as the rules have them', () => {
    for (const name of rules.keys()) assert.match(section, new RegExp(`\`${name}\``), `${name} is named`);
    assert.equal(rules.get('ConductorHealthLocalMode')?.for, '1m');
    assert.match(section, /`ConductorHealthLocalMode` fires for a replica in local mode for over a minute/);
    assert.equal(rules.get('ConductorHealthMembersMissing')?.for, '3m');
    assert.match(section, /`ConductorHealthMembersMissing` fires when, for 3 minutes/);
    assert.match(section, /in the job `conductor-health`/, 'the job the rules read');
    assert.match(str(rules.get('ConductorHealthMembersMissing')?.expr, 'expr'), /up\{job="conductor-health"\}/);
  });

  it('gives the compose stack\'s host ports and config', () => {
    const compose = readYaml(join(DEPLOY, 'docker-compose.yaml'));
    const ports = Object.entries(obj(compose.services, 'services'))
      .filter(([name]) => name.startsWith('replica-'))
      .map(([name, s]) => String(arr(obj(s, name).ports, `${name}.ports`)[0]).split(':')[0]);
    assert.match(section, new RegExp(`ports ${ports.slice(0, -1).join(', ')} and ${ports.at(-1)}\\b`));
    assert.match(section, /docker compose -f deploy\/docker-compose\.yaml up/);
    assert.match(section, /examples\/replicas\.yaml/);
  });

  it('has a Kubernetes Deployment of three replicas: Redis URL from a Secret, the pod\'s name as service.instance.id, probes on /livez and /readyz', () => {
    const block = /```yaml\n(apiVersion: apps\/v1\n[\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, 'a Deployment in a yaml block');
    const deployment = obj(parse(block), 'Deployment');
    assert.equal(deployment.kind, 'Deployment');
    const spec = obj(deployment.spec, 'spec');
    assert.equal(spec.replicas, 3);
    const [container] = arr(obj(obj(obj(spec.template, 'template').spec, 'template.spec'), 'pod spec').containers, 'containers').map((c) => obj(c, 'container'));
    assert.ok(container);
    const env = arr(container.env, 'env').map((e) => obj(e, 'env var'));
    const names = env.map((e) => str(e.name, 'env name'));
    const byName = (name: string): Obj => obj(env.find((e) => e.name === name), name);

    // Kubernetes expands $(POD_NAME) only from a variable defined earlier in the list.
    const id = str(byName('OTEL_RESOURCE_ATTRIBUTES').value, 'OTEL_RESOURCE_ATTRIBUTES');
    const variable = /^service\.instance\.id=\$\((\w+)\)$/.exec(id)?.[1];
    assert.ok(variable, id);
    assert.ok(names.indexOf(variable) >= 0 && names.indexOf(variable) < names.indexOf('OTEL_RESOURCE_ATTRIBUTES'), `${variable} comes before OTEL_RESOURCE_ATTRIBUTES`);
    assert.equal(obj(obj(byName(variable).valueFrom, 'valueFrom').fieldRef, 'fieldRef').fieldPath, 'metadata.name');

    const secret = obj(obj(byName('CONDUCTOR_HEALTH_REDIS_URL').valueFrom, 'valueFrom').secretKeyRef, 'secretKeyRef');
    assert.match(section, new RegExp(`kubectl create secret generic ${str(secret.name, 'secret name')} --from-literal=${str(secret.key, 'secret key')}=`));
    assert.equal(byName('OTEL_EXPORTER_PROMETHEUS_HOST').value, '0.0.0.0', 'the kubelet and Prometheus reach the pod');

    const [port] = arr(container.ports, 'ports').map((p) => obj(p, 'port'));
    for (const [probe, path] of [['livenessProbe', '/livez'], ['readinessProbe', '/readyz']] as const) {
      const get = obj(obj(container[probe], probe).httpGet, `${probe}.httpGet`);
      assert.equal(get.path, path);
      assert.equal(get.port, port?.containerPort, `${probe} asks the port the command listens on`);
    }
    assert.equal(port?.containerPort, 9464, 'the command\'s default port');
    const args = strings(container.command, 'command');
    const config = args[args.indexOf('--config') + 1] ?? '';
    const mounts = arr(container.volumeMounts, 'volumeMounts').map((m) => str(obj(m, 'mount').mountPath, 'mountPath'));
    assert.ok(mounts.some((m) => config.startsWith(`${m}/`)), `the config ${config} is in a mounted volume`);
  });
});
