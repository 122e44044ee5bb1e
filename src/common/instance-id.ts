/**
 * This process's identity, the OpenTelemetry resource's `service.instance.id`:
 * the one `OTEL_RESOURCE_ATTRIBUTES` gives, else a random UUID made once. The
 * telemetry resource and a cluster's replica id are the same value, so a
 * check span's replica is the member the cluster knows.
 */
import { randomUUID } from 'node:crypto';
import { envRaw } from './env.ts';

let id: string | undefined;

/** `service.instance.id` of this process. */
export function instanceId(): string {
  id ??= fromResourceAttributes() ?? randomUUID();
  return id;
}

/** The id `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`, values percent-encoded) sets, if any. */
function fromResourceAttributes(): string | undefined {
  for (const pair of envRaw('OTEL_RESOURCE_ATTRIBUTES')?.split(',') ?? []) {
    const at = pair.indexOf('=');
    if (at < 0 || pair.slice(0, at).trim() !== 'service.instance.id') continue;
    try {
      const value = decodeURIComponent(pair.slice(at + 1).trim());
      if (value !== '') return value;
    } catch {
      // A bad encoding is the resource detector's to report; the id falls back to a UUID.
    }
  }
  return undefined;
}
