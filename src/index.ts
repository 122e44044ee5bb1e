// The public API. Instrumentation code (monitor, breaker, metrics) talks to
// @opentelemetry/api only; startTelemetry is the one place that builds the SDK.
// The types use Node's (node:http handlers, Buffer): TypeScript 7 no longer loads them by itself.
/// <reference types="node" preserve="true" />
export { HealthMonitor } from './monitor/health-monitor.ts';
export type { HealthCheck, HealthCheckValue } from './monitor/check-run.ts';
export type { CheckSample, HealthCheckResult, HealthMonitorEvents, HealthReport, PlatformReport, ProbeResult, ReportOptions } from './monitor/report.ts';
export type { HealthMonitorOptions, PlatformOptions } from './monitor/options.ts';
export { overallStatus } from './monitor/status-rule.ts';
export type { OverallStatus, StatusRuleInput } from './monitor/status-rule.ts';
export { PlatformCircuitBreaker } from './breaker/circuit-breaker.ts';
export { CircuitOpenError, BreakerShutdownError } from './breaker/errors.ts';
export { TimeoutError } from './core/timeout-error.ts';
export { errorTypeOf } from './core/failure.ts';
export { ConductorHealthError, ERROR_CODES, isConductorHealthError } from './common/errors.ts';
export type { ConductorHealthErrorLike, ErrorCode } from './common/errors.ts';
export { BREAKER_STATES, BREAKER_STATE_LABELS } from './core/breaker-state.ts';
export type { AcquireOptions, BreakerOptions, ExecuteOptions } from './breaker/options.ts';
export type { BreakerPermit } from './breaker/permit.ts';
export type { BreakerEvents, BreakerSnapshot, BreakerStateChange } from './breaker/state.ts';
export type { BreakerState } from './core/breaker-state.ts';
export { ResourceMonitor } from './resources/resource-monitor.ts';
export type { ResourceMonitorEvents } from './resources/resource-monitor.ts';
export { createSystemSampler } from './resources/system-sampler.ts';
export type { ResourceMonitorOptions, SystemSamplerOptions } from './resources/options.ts';
export type { DegradedChange, DegradedReason, ResourceReadings, ResourceSampler } from './resources/readings.ts';
export {
  initMetrics,
  DURATION_BUCKETS_SECONDS,
  HEALTH_CHECK_STATUSES,
  METRIC_NAMES,
  RESOURCES,
} from './core/metrics.ts';
export type { HealthCheckStatus, HealthMetrics, MetricsOptions, ResourceName } from './core/metrics.ts';
export { startTelemetry, getMetricsRegistry } from './telemetry/start-telemetry.ts';
export type { HostMetricGroup, TelemetryOptions } from './telemetry/options.ts';
export type { MetricsRegistry, Telemetry } from './telemetry/start-telemetry.ts';
export { SuccessSpanFilter } from './telemetry/sampling.ts';
export type { OtlpProtocol } from './telemetry/otlp.ts';
export { healthHandler, livenessHandler, readinessHandler } from './http/probes.ts';
export type { RequestHandler } from './http/request-handler.ts';
export { statusPageHandler } from './http/status-page/status-page.ts';
export type { StatusPageHandler } from './http/status-page/status-page.ts';
export type { StatusPageOptions } from './http/status-page/options.ts';
export { httpCheck } from './monitor/checks/http-check.ts';
export { tcpCheck } from './monitor/checks/tcp-check.ts';
export { UnexpectedStatusError, BodyMismatchError } from './monitor/checks/errors.ts';
export type { HttpCheckOptions } from './monitor/checks/http-check.ts';
export type { TcpCheckOptions } from './monitor/checks/tcp-check.ts';
export { isPluginHealth, PLUGIN_HEALTH_STATUSES } from './core/plugin-health.ts';
export type { PluginHealth, PluginHealthStatus, PluginManager } from './core/plugin-health.ts';
export { createLogger, silentLogger } from './common/logger.ts';
export type { Logger } from './common/logger.ts';
export { BREAKER_DEFAULTS } from './breaker/options.ts';
export type { BreakerSettings } from './breaker/options.ts';
export { MONITOR_DEFAULTS, ENV_OVERRIDES } from './monitor/options.ts';
