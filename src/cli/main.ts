#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { httpCheck } from '../monitor/checks/http-check.ts';
import { tcpCheck } from '../monitor/checks/tcp-check.ts';
import { ConfigFileError, loadConfigFile } from './config-file.ts';
import type { CommandConfig, TargetConfig } from './config-schema.ts';
import { demoPorts, startDemoPlatforms, withDemoPorts, type DemoPlatforms } from './demo.ts';
import { healthHandler, livenessHandler, readinessHandler } from '../http/probes.ts';
import { HealthMonitor } from '../monitor/health-monitor.ts';
import type { HealthCheck } from '../monitor/check-run.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { ResourceMonitor } from '../resources/resource-monitor.ts';
import { statusPageHandler } from '../http/status-page/status-page.ts';
import { startLiveTable } from './live-table.ts';
import { summaryLine, trackRun } from './run-summary.ts';
import { catchStopSignals, type StopRequest } from './stop-signals.ts';
import { startTelemetry } from '../telemetry/start-telemetry.ts';
import { PACKAGE_VERSION } from '../common/version.ts';

const USAGE = `Usage:
  conductor-health run --config FILE [--json-logs]   monitor the targets a YAML or JSON file lists
  conductor-health demo [--json-logs]                three loopback platforms and examples/demo.yaml, on free ports
                                                     (or CONDUCTOR_HEALTH_DEMO_PORT and the two after it)
  conductor-health --help | --version

Serves /metrics, /healthz, /livez, /readyz and a status page at / on OTEL_EXPORTER_PROMETHEUS_HOST:OTEL_EXPORTER_PROMETHEUS_PORT
(default 127.0.0.1:9464) and exports spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
On a terminal it shows a live status table; piped, or with --json-logs, it logs JSON lines.
Exit status: 0 after SIGINT/SIGTERM/SIGHUP, 1 when it cannot start, 2 for bad usage or a bad config file.`;

/** How the command ends: the exit status to use. */
type ExitCode = 0 | 1 | 2;

/** Runs the command line; resolves with the exit status once the command has ended. */
export async function main(argv: readonly string[]): Promise<ExitCode> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'json-logs': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (rest.length > 0) return usageError(`unexpected argument "${rest[0]}"`);
  const jsonLogs = values['json-logs'] === true || !process.stdout.isTTY;
  if (command === 'run') {
    if (!values.config) return usageError('run needs --config FILE');
    return serve({ file: values.config }, { jsonLogs });
  }
  if (command === 'demo') {
    if (values.config) return usageError('demo uses examples/demo.yaml; use run --config FILE for your own');
    return serve({ file: DEMO_CONFIG, demo: true }, { jsonLogs });
  }
  return usageError(command === undefined ? 'no command given' : `unknown command "${command}"`);
}

/** Where the config comes from: a file, or (`demo`) the demo's own with its platforms started first. */
interface Source {
  file: string;
  demo?: boolean;
}

/** examples/demo.yaml, shipped with the package. */
const DEMO_CONFIG = fileURLToPath(new URL('../../examples/demo.yaml', import.meta.url));

/**
 * Loads the config (the demo's with its platforms' ports), starts telemetry
 * and the monitor, and runs until SIGINT, SIGTERM or SIGHUP.
 */
async function serve(source: Source, { jsonLogs }: { jsonLogs: boolean }): Promise<ExitCode> {
  const logger = commandLogger(jsonLogs);
  // From here on a signal asks for a stop, even one that arrives while starting.
  const stop = catchStopSignals(logger);
  const { file } = source;
  let config: CommandConfig;
  try {
    config = await loadConfigFile(file);
  } catch (error) {
    if (!(error instanceof ConfigFileError)) throw error;
    process.stderr.write(`conductor-health: bad config file ${error.message}\n`);
    return 2;
  }
  let platforms: DemoPlatforms | undefined;
  if (source.demo) {
    try {
      // Free ports unless pinned: the ports demo.yaml names may be taken on this host.
      platforms = await startDemoPlatforms(demoPorts());
    } catch (error) {
      process.stderr.write(`conductor-health: ${unprefixed(error)}\n`);
      return 1;
    }
    config = withDemoPorts(config, platforms);
  }
  try {
    return await run({ config, file, logger, stop, jsonLogs, platforms });
  } finally {
    await platforms?.close();
  }
}

/** What {@link run} runs: the config, where it came from (named in messages), and how to report and stop. */
interface Session {
  config: CommandConfig;
  file: string;
  logger: Logger;
  stop: StopRequest;
  jsonLogs: boolean;
  /** The demo's platforms, listed in the start-up log line. */
  platforms: DemoPlatforms | undefined;
}

/** Runs the monitor on the session's config until a stop is requested. */
async function run({ config, file, logger, stop, jsonLogs, platforms }: Session): Promise<ExitCode> {
  let telemetry;
  try {
    telemetry = await startTelemetry({ ...config.telemetry, logger });
  } catch (error) {
    process.stderr.write(`conductor-health: ${unprefixed(error)}\n`);
    return 1;
  }
  let monitor: HealthMonitor;
  let resources: ResourceMonitor | undefined;
  try {
    ({ monitor, resources } = buildMonitor(config, logger));
  } catch (error) {
    // The file passed its own checks but a value the monitor refuses still names its option.
    process.stderr.write(`conductor-health: bad config file ${file}: ${unprefixed(error)}\n`);
    await telemetry.shutdown();
    return 2;
  }
  telemetry.route('/healthz', healthHandler(monitor));
  telemetry.route('/readyz', readinessHandler(monitor));
  telemetry.route('/livez', livenessHandler(monitor));
  // The server keeps half its connections for probes and scrapes, whatever the pages hold (http/server.ts).
  const page = statusPageHandler(monitor);
  for (const path of page.paths) telemetry.route(path, page);
  const summarise = trackRun(monitor);
  monitor.start();
  const demo = platforms && { healthy: platforms.healthyUrl, flaky: platforms.flakyUrl, down: `tcp 127.0.0.1:${platforms.ports.down}` };
  logger.info({ config: file, targets: config.targets.length, metrics: telemetry.metricsUrl, otlp: telemetry.exportingSpans, ...(demo ? { demo } : {}) }, 'conductor-health running');
  const closeTable = jsonLogs || stop.requested ? undefined : startLiveTable(monitor, process.stdout);

  const signal = await stop.first;
  const summary = summarise();
  // Ctrl-C gives the terminal back with what the run did, not a blank screen.
  closeTable?.(summaryLine(summary));
  logger.info({ signal }, 'stopping');
  // The resource monitor is the command's, not the health monitor's: stop both.
  await Promise.all([monitor.stop(), resources?.stop()]);
  page.close();
  // Bounded: spans are flushed within shutdownTimeoutMs even with the collector down.
  await telemetry.shutdown();
  logger.info({ signal, ...summary }, 'stopped');
  return 0;
}

/**
 * The command's logger: JSON lines on stdout at `LOG_LEVEL` (default info),
 * or on a terminal, where the table owns stdout, errors only on stderr. Both
 * synchronous: the command ends with process.exit().
 */
function commandLogger(jsonLogs: boolean): Logger {
  return jsonLogs ? createLogger() : pino({ level: 'error' }, pino.destination({ fd: 2, sync: true }));
}

function buildMonitor(config: CommandConfig, logger: Logger): { monitor: HealthMonitor; resources: ResourceMonitor | undefined } {
  const resources = config.resources === false ? undefined : new ResourceMonitor({ ...config.resources, logger });
  const monitor = new HealthMonitor({ ...config.monitor, breaker: config.breaker, resources: resources ?? false, logger, ...(config.cluster ? { cluster: config.cluster } : {}) });
  for (const target of config.targets) {
    monitor.register(target.name, checkFor(target), {
      ...(target.intervalMs === undefined ? {} : { intervalMs: target.intervalMs }),
      ...(target.timeoutMs === undefined ? {} : { timeoutMs: target.timeoutMs }),
      ...(target.breaker === undefined ? {} : { breaker: target.breaker }),
      ...(target.critical === undefined ? {} : { critical: target.critical }),
    });
  }
  return { monitor, resources };
}

function checkFor(target: TargetConfig): HealthCheck {
  if (target.type === 'tcp') return tcpCheck({ host: target.host, port: target.port });
  const { url, expectStatus, bodyMatch, maxBodyBytes, headers } = target;
  return httpCheck({ url, expectStatus, maxBodyBytes, ...(bodyMatch === undefined ? {} : { bodyMatch }), ...(headers === undefined ? {} : { headers }) });
}

/** An error's message without the package prefix the library's errors carry, which the command writes once itself. */
function unprefixed(error: unknown): string {
  return String((error as Error)?.message ?? error).replace(/^conductor-health: /, '');
}

function usageError(message: string): ExitCode {
  process.stderr.write(`conductor-health: ${message}\n\n${USAGE}\n`);
  return 2;
}

// Run when executed (directly or through the npm bin link), not when imported.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const code = await main(process.argv.slice(2));
  // Exit now rather than when the event loop drains: Node's teardown first puts
  // SIGINT, SIGTERM and SIGHUP back to their default action, and a signal in that
  // window (a second Ctrl-C, npm's forwarded copy) killed the process after a
  // clean stop. process.exit() keeps the handlers to the end; pending log lines
  // are flushed on its 'exit' event.
  process.exit(code);
}
