import type * as z from 'zod';
import { metrics, type Attributes, type Counter, type Gauge, type Histogram, type Meter } from '@opentelemetry/api';
import { OptionRangeError } from '../common/errors.ts';
import { meter as meterField, number, options, parseOptions } from '../common/option-schema.ts';
import { checkNumber, checkOneOf, checkPlatformName } from '../common/validate.ts';
import { BREAKER_STATE_LABELS, BREAKER_STATES, breakerStateLabel, type BreakerState } from './breaker-state.ts';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../common/version.ts';

/** Outcomes of one health check, the `status` label of `health_check_total`. */
export const HEALTH_CHECK_STATUSES = ['success', 'failure', 'timeout', 'rejected'] as const;
export type HealthCheckStatus = (typeof HEALTH_CHECK_STATUSES)[number];

/** Distinct `error_type` label values kept per platform before `other` (telemetry sizes its limits with it). */
export const DEFAULT_MAX_ERROR_TYPES = 10;

/** Host resources, the `resource` label of `system_resources`. */
export const RESOURCES = ['memory', 'cpu', 'disk'] as const;
export type ResourceName = (typeof RESOURCES)[number];

/** Upper bounds of `health_check_duration_seconds`, in seconds (the OTel default is meant for ms). */
export const DURATION_BUCKETS_SECONDS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);

/** The Prometheus names of the instruments, exactly as scraped. */
export const METRIC_NAMES = Object.freeze({
  healthCheck: 'health_check_total',
  duration: 'health_check_duration_seconds',
  breakerState: 'circuit_breaker_state',
  pluginFailure: 'plugin_failure_total',
  systemResources: 'system_resources',
  degraded: 'health_monitor_degraded',
  skipped: 'health_check_skipped_total',
  overflow: 'health_metric_overflow',
  clusterMembers: 'health_cluster_members',
  clusterLocalMode: 'health_cluster_local_mode',
});

/**
 * How many series one platform can add to each instrument; telemetry sizes
 * the SDK's cardinality limits from it so no platform lands in
 * `otel_metric_overflow`.
 */
export function seriesPerPlatform(maxErrorTypes: number = DEFAULT_MAX_ERROR_TYPES): Record<string, number> {
  return {
    [METRIC_NAMES.healthCheck]: HEALTH_CHECK_STATUSES.length,
    [METRIC_NAMES.duration]: 1,
    [METRIC_NAMES.breakerState]: BREAKER_STATE_LABELS.length,
    // The capped error types plus `other`.
    [METRIC_NAMES.pluginFailure]: maxErrorTypes + 1,
    [METRIC_NAMES.skipped]: 2,
  };
}

/** The instruments and the typed helpers that write to them. */
export interface HealthMetrics {
  /** `health_check_total{platform,status}`. Prefer {@link HealthMetrics.recordHealthCheck}. */
  readonly healthCheckCounter: Counter;
  /** `health_check_duration_seconds{platform}`. Prefer {@link HealthMetrics.recordHealthCheck}. */
  readonly responseTimeHistogram: Histogram;
  /** `circuit_breaker_state{platform,state}`. Prefer {@link HealthMetrics.setBreakerState}. */
  readonly circuitBreakerStateGauge: Gauge;
  /** `plugin_failure_total{platform,error_type}`. Prefer {@link HealthMetrics.recordPluginFailure}. */
  readonly pluginFailureCounter: Counter;
  /** `system_resources{resource}`. Prefer {@link HealthMetrics.setSystemResource}. */
  readonly systemResourcesGauge: Gauge;
  /** `health_monitor_degraded`, 1 while the monitor is in degraded mode. */
  readonly degradedGauge: Gauge;
  /** `health_check_skipped_total{platform,reason}`: slots that were not run. */
  readonly skippedCounter: Counter;
  /** `health_cluster_members`: the replicas of the cluster this one sees, itself included (only with a cluster). */
  readonly clusterMembersGauge: Gauge;
  /** `health_cluster_local_mode`: 1 while this replica cannot reach the cluster's store and decides alone. */
  readonly clusterLocalModeGauge: Gauge;

  /**
   * Counts one check; `seconds` (omitted for `rejected`) goes to the duration
   * histogram. Both are held per platform and handed to the instruments when
   * the metrics are collected (or once 10,000 checks wait): an instrument
   * record hashes its attributes every time, which at thousands of checks a
   * second, each on cold caches, cost more than the rest of the check's
   * telemetry; handed over together they run warm, and counts add up first.
   */
  recordHealthCheck(platform: string, status: HealthCheckStatus, seconds?: number): void;
  /** Writes 1 to the platform's current state and 0 to the other two. */
  setBreakerState(platform: string, state: BreakerState): void;
  /** Counts one failure; `errorType` is sanitised and capped per platform (`other` past the cap). */
  recordPluginFailure(platform: string, errorType: string): void;
  /** Sets one resource's utilisation, a ratio in [0, 1]. */
  setSystemResource(resource: ResourceName, ratio: number): void;
  /** Sets the degraded-mode gauge. */
  setDegraded(degraded: boolean): void;
  /** Sets the cluster gauges: the members this replica sees, and whether it runs alone (local mode). */
  setCluster(members: number, localMode: boolean): void;
  /** Counts a scheduled check that did not run (`missed`: the process stalled; `busy`: the previous check was still running). */
  recordSkippedCheck(platform: string, reason: 'missed' | 'busy', count?: number): void;
  /**
   * For a platform that left: writes 0 to its breaker state at 1, so all three
   * read 0 (the OpenTelemetry SDK cannot delete a series, and a stale 1 would
   * keep an alert firing), and forgets its error-type set.
   */
  forgetPlatform(platform: string): void;
}

/** Options of {@link initMetrics}; every one is optional. */
export const METRICS_OPTIONS = options({
  /** The Meter to create instruments on; default `metrics.getMeter('conductor-health', version)`. */
  meter: meterField().optional(),
  /** Distinct `error_type` values kept per platform before `other` (default: what startTelemetry() sized the metrics for, else 10). */
  maxErrorTypes: number({ min: 0, integer: true }).optional(),
});

/** Options of {@link initMetrics}. */
export type MetricsOptions = z.input<typeof METRICS_OPTIONS>;

const byMeter = new WeakMap<Meter, { metrics: HealthMetrics; maxErrorTypes: number }>();

/**
 * Where `startTelemetry()` notes, on the meter provider it registers, the
 * `maxErrorTypes` its cardinality limits are sized for; the instruments then
 * default to it. Kept on the provider so no module holds global state.
 */
export const SIZED_MAX_ERROR_TYPES = Symbol('conductor-health.maxErrorTypes');

/**
 * Creates the instruments once per Meter and returns them with their helpers.
 *
 * The OpenTelemetry metrics API has no proxy: instruments made from the
 * global meter before a MeterProvider is registered stay no-ops forever.
 * Call this after `startTelemetry()` (or pass your own `meter`); a second call
 * on the same meter returns the same instruments.
 */
export function initMetrics(options?: MetricsOptions): HealthMetrics {
  // Every breaker and monitor asks: the common call with no options parses nothing.
  const opts: MetricsOptions = options === undefined ? {} : parseOptions(METRICS_OPTIONS, 'metrics', options);
  // Only the global provider's instruments are sized by startTelemetry(); a meter of the caller's own provider is not.
  const sized = opts.meter === undefined ? (metrics.getMeterProvider() as { [SIZED_MAX_ERROR_TYPES]?: number })[SIZED_MAX_ERROR_TYPES] : undefined;
  const asked = opts.maxErrorTypes;
  if (asked !== undefined && sized !== undefined && asked > sized) {
    throw new OptionRangeError(
      'EOPTIONRANGE',
      `conductor-health: option "maxErrorTypes" must be at most the ${sized} startTelemetry() sized the metrics for, got ${asked}; pass maxErrorTypes: ${asked} to startTelemetry()`,
    );
  }
  const meter = opts.meter ?? metrics.getMeter(PACKAGE_NAME, PACKAGE_VERSION);
  const existing = byMeter.get(meter);
  if (existing) {
    // A second caller asking for another cap must hear that it is not getting it.
    if (asked !== undefined && asked !== existing.maxErrorTypes) {
      throw new OptionRangeError(
        'EOPTIONRANGE',
        `conductor-health: option "maxErrorTypes" got ${asked}, but the instruments of this meter already exist with maxErrorTypes ${existing.maxErrorTypes}; call initMetrics({ maxErrorTypes }) before any monitor or breaker`,
      );
    }
    return existing.metrics;
  }
  const maxErrorTypes = asked ?? sized ?? DEFAULT_MAX_ERROR_TYPES;
  const created = createMetrics(meter, maxErrorTypes);
  byMeter.set(meter, { metrics: created, maxErrorTypes });
  return created;
}

/** The instruments of {@link METRIC_NAMES}, with their descriptions. */
function createInstruments(meter: Meter) {
  return {
    healthCheckCounter: meter.createCounter(METRIC_NAMES.healthCheck, {
      description: 'Health checks run, by platform and outcome (success, failure, timeout, rejected by an open breaker).',
    }),
    responseTimeHistogram: meter.createHistogram(METRIC_NAMES.duration, {
      description: 'Duration of health checks in seconds; a timed-out check observes the time until its timeout.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    }),
    circuitBreakerStateGauge: meter.createGauge(METRIC_NAMES.breakerState, {
      description: 'Circuit breaker state per platform: 1 for the current state (closed, open, half_open), 0 for the others.',
    }),
    pluginFailureCounter: meter.createCounter(METRIC_NAMES.pluginFailure, {
      description: 'Failed health checks and breaker calls, by platform and bounded error type.',
    }),
    systemResourcesGauge: meter.createGauge(METRIC_NAMES.systemResources, {
      description: 'Host resource utilisation as a ratio 0..1 (memory, cpu, disk) that degraded mode decides on.',
    }),
    degradedGauge: meter.createGauge(METRIC_NAMES.degraded, {
      description: '1 while the health monitor is in degraded mode because a host resource passed its threshold.',
    }),
    clusterMembersGauge: meter.createGauge(METRIC_NAMES.clusterMembers, {
      description: 'Replicas of the cluster this replica sees through the shared store, itself included.',
    }),
    clusterLocalModeGauge: meter.createGauge(METRIC_NAMES.clusterLocalMode, {
      description: '1 while this replica cannot reach the cluster\'s shared store and checks every platform itself with its own breakers.',
    }),
    skippedCounter: meter.createCounter(METRIC_NAMES.skipped, {
      description: 'Scheduled health checks that did not run: missed (the process stalled) or busy (the previous check was still running).',
    }),
  };
}

function createMetrics(meter: Meter, maxErrorTypes: number): HealthMetrics {
  const instruments = createInstruments(meter);
  const { healthCheckCounter, responseTimeHistogram, circuitBreakerStateGauge, pluginFailureCounter, systemResourcesGauge, degradedGauge, skippedCounter } = instruments;

  const errorTypes = new Map<string, Set<string>>();
  // The state each platform's gauge reads 1 in: a change rewrites two series and
  // forgetting rewrites one, so churn touches as few series as it can (the SDK's
  // cardinality limit counts the series written between two collections).
  const breakerStates = new Map<string, BreakerState>();
  // Per platform: the attribute objects, reused so the hot path allocates
  // nothing, and what waits for the next collection.
  const checks = new Map<string, PlatformChecks>();
  // Platforms with something waiting, each once.
  const waiting: PlatformChecks[] = [];
  let waitingChecks = 0;
  /** Hands every waiting count and duration to the instruments. */
  const flush = (): void => {
    for (const entry of waiting) {
      for (let i = 0; i < entry.counts.length; i += 1) {
        if (entry.counts[i]! > 0) healthCheckCounter.add(entry.counts[i]!, entry.countAttrs[i]);
        entry.counts[i] = 0;
      }
      for (const seconds of entry.seconds) responseTimeHistogram.record(seconds, entry.durationAttrs);
      entry.seconds.length = 0;
      entry.waiting = false;
    }
    waiting.length = 0;
    waitingChecks = 0;
  };
  // The SDK runs observable callbacks before it collects the synchronous
  // instruments, so a collection sees every check up to its start. This gauge
  // is never observed, so it has no series of its own.
  meter
    .createObservableGauge(COLLECTION_HOOK, { description: 'Never reported: its callback hands the checks waiting since the last collection to health_check_total and health_check_duration_seconds.' })
    .addCallback(flush);

  return {
    ...instruments,

    recordHealthCheck(platform, status, seconds) {
      const index = HEALTH_CHECK_STATUSES.indexOf(status);
      if (index < 0) checkOneOf('status', status, HEALTH_CHECK_STATUSES);
      if (seconds !== undefined && (typeof seconds !== 'number' || !(seconds >= 0) || seconds === Infinity)) checkNumber('seconds', seconds, { min: 0 });
      let entry = checks.get(platform);
      if (entry === undefined) {
        checkPlatformName(platform);
        entry = { countAttrs: HEALTH_CHECK_STATUSES.map((s) => ({ platform, status: s })), durationAttrs: { platform }, counts: HEALTH_CHECK_STATUSES.map(() => 0), seconds: [], waiting: false };
        checks.set(platform, entry);
      }
      entry.counts[index]! += 1;
      if (seconds !== undefined) entry.seconds.push(seconds);
      if (!entry.waiting) {
        entry.waiting = true;
        waiting.push(entry);
      }
      // Bounded: with no collection (no SDK, or nobody scraping) values do not pile up.
      if ((waitingChecks += 1) >= MAX_WAITING_CHECKS) flush();
    },

    setBreakerState(platform, state) {
      checkPlatformName(platform);
      checkOneOf('state', state, BREAKER_STATES);
      const previous = breakerStates.get(platform);
      if (previous === undefined) {
        for (const s of BREAKER_STATES) circuitBreakerStateGauge.record(s === state ? 1 : 0, { platform, state: breakerStateLabel(s) });
      } else {
        if (previous !== state) circuitBreakerStateGauge.record(0, { platform, state: breakerStateLabel(previous) });
        circuitBreakerStateGauge.record(1, { platform, state: breakerStateLabel(state) });
      }
      breakerStates.set(platform, state);
    },

    recordPluginFailure(platform, errorType) {
      checkPlatformName(platform);
      let seen = errorTypes.get(platform);
      if (seen === undefined) {
        seen = new Set();
        errorTypes.set(platform, seen);
      }
      let label = sanitizeErrorType(errorType);
      if (!seen.has(label)) {
        if (seen.size < maxErrorTypes) seen.add(label);
        else label = 'other';
      }
      pluginFailureCounter.add(1, { platform, error_type: label });
    },

    setSystemResource(resource, ratio) {
      checkOneOf('resource', resource, RESOURCES);
      checkNumber('ratio', ratio, { min: 0, max: 1 });
      systemResourcesGauge.record(ratio, { resource });
    },

    setDegraded(degraded) {
      degradedGauge.record(degraded ? 1 : 0);
    },

    setCluster(members, localMode) {
      instruments.clusterMembersGauge.record(members);
      instruments.clusterLocalModeGauge.record(localMode ? 1 : 0);
    },

    recordSkippedCheck(platform, reason, count = 1) {
      skippedCounter.add(count, { platform, reason });
    },

    forgetPlatform(platform) {
      // Only the state at 1 needs its 0; the other two already read 0.
      const previous = breakerStates.get(platform);
      if (previous !== undefined) circuitBreakerStateGauge.record(0, { platform, state: breakerStateLabel(previous) });
      breakerStates.delete(platform);
      errorTypes.delete(platform);
      // What it still has waiting is counted first.
      if (checks.get(platform)?.waiting) flush();
      checks.delete(platform);
    },
  };
}

/** Name of the never-reported gauge whose callback runs at each collection. */
const COLLECTION_HOOK = 'health_check_collection_hook';
/** Checks whose count and duration are held at most between two collections. */
const MAX_WAITING_CHECKS = 10_000;

interface PlatformChecks {
  readonly countAttrs: readonly Attributes[];
  readonly durationAttrs: Attributes;
  /** Checks per status (HEALTH_CHECK_STATUSES order) not yet added to the counter. */
  readonly counts: number[];
  /** Durations not yet recorded. */
  readonly seconds: number[];
  /** In the waiting list. */
  waiting: boolean;
}

/**
 * Turns an error code or class name into a short, label-safe value:
 * `[A-Za-z0-9_]`, at most 40 characters, never empty. Messages must never
 * reach here; they are unbounded and belong in spans and logs.
 */
export function sanitizeErrorType(errorType: unknown): string {
  if (typeof errorType !== 'string') return 'other';
  const clean = errorType.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
  return clean === '' ? 'other' : clean;
}
