/**
 * The shape of a config file for `conductor-health run`, built from the
 * options' own schemas (each folder's options.ts, the checks' fields), so a range is stated once for code and
 * file alike. `schema/config.schema.json` is generated from it
 * (`npm run schema`) for editors; a test keeps the two in step.
 */
import * as z from 'zod';
import { MAX_PLATFORM_NAME_LENGTH } from '../common/validate.ts';
import { HTTP_CHECK_FIELDS } from '../monitor/checks/http-check.ts';
import { TCP_CHECK_FIELDS } from '../monitor/checks/tcp-check.ts';
import { BREAKER_SETTINGS } from '../breaker/options.ts';
import { CLUSTER_SECTION } from '../cluster/options.ts';
import { MONITOR_OPTIONS, PLATFORM_OPTIONS } from '../monitor/options.ts';
import { RECOVER_BELOW, RESOURCE_OPTIONS } from '../resources/options.ts';
import { TELEMETRY_OPTIONS } from '../telemetry/options.ts';
import { given, options, text } from '../common/option-schema.ts';

/** Bounds of what a config file may ask for. */
export const CONFIG_FILE_DEFAULTS = Object.freeze({
  /** Largest config file read: ~25,000 targets of ~150 bytes; a larger file is refused unread. */
  maxBytes: 4 * 1024 * 1024,
  /** `telemetry.maxPlatforms` when the file does not set it: what the metric limits are sized for. */
  maxPlatforms: TELEMETRY_OPTIONS.shape.maxPlatforms.def.defaultValue,
});

const NAME = text()
  .max(MAX_PLATFORM_NAME_LENGTH, { error: () => `at most ${MAX_PLATFORM_NAME_LENGTH} characters long` })
  // A lone surrogate cannot be encoded: two such names would render as one label value.
  .refine((name) => name.isWellFormed(), { error: () => 'well-formed Unicode (no lone surrogates)' });

/** What every target has, whatever its type. */
const TARGET = {
  name: NAME,
  ...PLATFORM_OPTIONS.shape,
};

// A target's check fields are the check's own (monitor/checks/), declared there once.
const HTTP_TARGET = options({ ...TARGET, type: z.literal('http'), ...HTTP_CHECK_FIELDS });

const TCP_TARGET = options({ ...TARGET, type: z.literal('tcp'), ...TCP_CHECK_FIELDS });

const RESOURCES = options({
  ...given(RESOURCE_OPTIONS.pick({ threshold: true, path: true })).shape,
  /** Every resource must be below this, and below the threshold, to recover (default 0.75, or threshold − 0.05 when lower). */
  recoverBelow: RECOVER_BELOW.optional(),
});

/** The resource monitor's default threshold, which a file's `recoverBelow` must stay below. */
export const DEFAULT_THRESHOLD = RESOURCE_OPTIONS.parse({}).threshold;

const TELEMETRY = options({
  ...given(TELEMETRY_OPTIONS.pick({ serviceName: true, prometheusHost: true, prometheusPort: true, successSpanRatio: true })).shape,
  // With its default: the number of targets is checked against it.
  ...TELEMETRY_OPTIONS.pick({ maxPlatforms: true }).shape,
});

/** What `conductor-health run --config FILE` reads. */
export const CONFIG_FILE = options({
  monitor: given(MONITOR_OPTIONS.pick({ intervalMs: true, timeoutMs: true, staggerMs: true, maxConcurrent: true })).default({}),
  breaker: BREAKER_SETTINGS.default({}),
  /** `false` turns degraded mode off. */
  resources: z.union([z.literal(false), RESOURCES], { error: () => 'false or a mapping' }).default({}),
  telemetry: TELEMETRY.prefault({}),
  /** Replicas sharing one view through Redis; `redisUrl` may come from CONDUCTOR_HEALTH_REDIS_URL instead. */
  cluster: CLUSTER_SECTION.optional(),
  targets: z
    .array(z.discriminatedUnion('type', [HTTP_TARGET, TCP_TARGET], { error: () => '"http" or "tcp"' }), { error: () => 'a non-empty list of targets' })
    .min(1, { error: () => 'a non-empty list of targets' }),
}).meta({ title: 'conductor-health config file', description: 'Read by `conductor-health run --config FILE` (YAML or JSON).' });

/** What `conductor-health run --config FILE` reads, validated. */
export type CommandConfig = z.output<typeof CONFIG_FILE>;

/** One target of a config file: a platform and its built-in check. */
export type TargetConfig = CommandConfig['targets'][number];

/** The JSON Schema of a config file (draft-07, which editors' YAML support understands), as `schema/config.schema.json` holds it. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(CONFIG_FILE, { io: 'input', target: 'draft-7' });
}
