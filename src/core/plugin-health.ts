/**
 * The contract the conductor's plugin manager speaks. A plugin reports its own
 * health; that status drives its platform's circuit breaker.
 */

/** Health statuses a plugin can report. */
export const PLUGIN_HEALTH_STATUSES = ['healthy', 'degraded', 'unhealthy', 'unknown'] as const;
export type PluginHealthStatus = (typeof PLUGIN_HEALTH_STATUSES)[number];

/**
 * A plugin's own view of its health. `healthy` and `degraded` count as a
 * success for its breaker, `unhealthy` as a failure, `unknown` changes nothing.
 */
export interface PluginHealth {
  status: PluginHealthStatus;
  /** A short human-readable reason; it goes to spans and logs, never to metric labels. */
  message?: string;
}

/** What a conductor's plugin manager offers the health monitor. */
export interface PluginManager {
  /** The platforms (plugin names) to monitor. */
  platforms(): Iterable<string>;
  /** Asks one plugin for its health; `signal` aborts when the check times out or the monitor stops. */
  checkHealth(platform: string, signal: AbortSignal): Promise<PluginHealth>;
}

/** True when `value` is a {@link PluginHealth} with a known status. */
export function isPluginHealth(value: unknown): value is PluginHealth {
  if (typeof value !== 'object' || value === null) return false;
  try {
    return (PLUGIN_HEALTH_STATUSES as readonly unknown[]).includes((value as { status?: unknown }).status);
  } catch {
    // A status getter that throws, or a revoked Proxy: not a health report anyone can read.
    return false;
  }
}
