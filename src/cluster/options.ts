/**
 * The options of a cluster of replicas, declared once: the monitor's
 * `cluster` option and a config file's `cluster` section take them, and
 * `CONDUCTOR_HEALTH_REDIS_URL` stands in for a missing `redisUrl`. Loading
 * this file loads no Redis client: the cluster itself is imported only when
 * a monitor is given one.
 */
import * as z from 'zod';
import { envError, envText, type Environment } from '../common/env.ts';
import { OptionRangeError, OptionTypeError } from '../common/errors.ts';
import { fieldMeta, fromEnv, number, options, parseOptions } from '../common/option-schema.ts';
import { MAX_TIMER_MS } from '../common/validate.ts';

const REDIS_URL_EXPECTED = 'a redis:// or rediss:// URL';
const redisUrlError = { error: () => REDIS_URL_EXPECTED };

/** A `redis://` or `rediss://` URL (user and password allowed: they are masked wherever the URL is shown). */
const REDIS_URL = z
  .string(redisUrlError)
  .regex(/^rediss?:\/\//i, redisUrlError)
  .refine((url) => URL.canParse(url), redisUrlError)
  .register(fieldMeta, { expected: REDIS_URL_EXPECTED });

const ID_EXPECTED = 'letters, digits and . _ : - (1 to 128 of them)';
/** A replica id or key prefix: it becomes part of Redis keys and of the shared state's records. */
const NAME = z
  .string({ error: () => ID_EXPECTED })
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, { error: () => ID_EXPECTED })
  .register(fieldMeta, { expected: ID_EXPECTED });

/** Options of a cluster of replicas; only `redisUrl` is needed. */
export const CLUSTER_OPTIONS = options({
  /** The Redis ≥ 7.0 the replicas share (env `CONDUCTOR_HEALTH_REDIS_URL`); a password in it is never shown. */
  redisUrl: fromEnv(REDIS_URL, 'CONDUCTOR_HEALTH_REDIS_URL'),
  /** Replicas sharing a prefix form one cluster; every key is under it (default `conductor-health`). */
  keyPrefix: NAME.default('conductor-health'),
  /** This replica's id (default its `service.instance.id`: `OTEL_RESOURCE_ATTRIBUTES`, else a random UUID). */
  instanceId: NAME.optional(),
  /** How often a replica says it is alive, in ms (default 2,000). */
  heartbeatMs: number({ min: 50, max: 60_000, integer: true }).default(2_000),
  /** How long a replica stays a member without a heartbeat, in ms (default 3 heartbeats). */
  memberTtlMs: number({ min: 100, max: MAX_TIMER_MS, integer: true }).optional(),
  /** Distinct replicas whose consecutive failures it takes to open the shared breaker (default 1: any replica's). */
  minReplicas: number({ min: 1, max: 100, integer: true }).default(1),
  /** Bound on one Redis command, in ms (default 500): Redis slow or gone never holds a check or a call. */
  commandTimeoutMs: number({ min: 10, max: 60_000, integer: true }).default(500),
  /** How often a replica reconciles its breakers with the shared state, for messages lost in transit, in ms (default 2,000). */
  resyncMs: number({ min: 100, max: 600_000, integer: true }).default(2_000),
});

/** Options of a cluster of replicas. */
export type ClusterOptions = z.input<typeof CLUSTER_OPTIONS>;

/** A cluster's options once validated, defaults filled in. */
export type ClusterSettings = z.output<typeof CLUSTER_OPTIONS>;

/** The `cluster` option of a monitor and section of a config file: `redisUrl` may come from the environment instead. */
export const CLUSTER_SECTION = CLUSTER_OPTIONS.partial({ redisUrl: true });

/** The environment variable that gives a missing `redisUrl` (and, alone, turns the cluster on). */
export const REDIS_URL_ENV = 'CONDUCTOR_HEALTH_REDIS_URL';

/**
 * The cluster a monitor is to join: `section` (already validated against
 * {@link CLUSTER_SECTION}) completed from the environment, or undefined when
 * neither it nor `CONDUCTOR_HEALTH_REDIS_URL` asks for one.
 */
export function clusterSettings(section: z.output<typeof CLUSTER_SECTION> | undefined, env: Environment = process.env): ClusterSettings | undefined {
  const fromEnvironment = envText(REDIS_URL_ENV, env);
  if (section === undefined && fromEnvironment === undefined) return undefined;
  const redisUrl = section?.redisUrl ?? fromEnvironment;
  if (redisUrl === undefined) {
    throw new OptionTypeError('EOPTIONTYPE', `conductor-health: option "cluster.redisUrl" is missing: give the Redis the replicas share (redis://host:6379), or set ${REDIS_URL_ENV}`);
  }
  if (section?.redisUrl === undefined && !REDIS_URL.safeParse(redisUrl).success) throw envError(REDIS_URL_ENV, REDIS_URL_EXPECTED, redisUrl);
  const settings = parseOptions(CLUSTER_OPTIONS, 'cluster', { ...section, redisUrl }, env);
  if (settings.memberTtlMs !== undefined && settings.memberTtlMs <= settings.heartbeatMs) {
    throw new OptionRangeError(
      'EOPTIONRANGE',
      `conductor-health: option "cluster.memberTtlMs" must be more than cluster.heartbeatMs (${settings.heartbeatMs}), got ${settings.memberTtlMs}: a replica would expire between two heartbeats; leave it out for 3 heartbeats`,
    );
  }
  return settings;
}

/**
 * A replica id made from `service.instance.id`, which may hold any text: each
 * character a replica id does not allow becomes `_`, and it is cut to 128
 * (an id with `|` or `,` would break the records it is written into).
 */
export function replicaIdFrom(instanceId: string): string {
  return instanceId.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 128) || 'replica';
}

/** `url` with its user and password (an ACL user's too) shown as `***`: how a Redis URL appears in logs, reports and pages. */
export function maskRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username !== '') parsed.username = '***';
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return 'an unparsable Redis URL';
  }
}
