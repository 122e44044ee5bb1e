import { pino } from 'pino';
import { envText } from './env.ts';

/**
 * The logging surface this package uses: pino's. Any pino logger (or a child
 * of the conductor's own) fits; so does anything with these four methods.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** pino's: lets per-check debug logging cost nothing when the level is higher. */
  isLevelEnabled?(level: string): boolean;
}

/**
 * The command's logger, and one to pass a monitor for more than warnings:
 * JSON lines on stdout at `LOG_LEVEL` (default `info`),
 * written synchronously so nothing is lost when the process exits and no
 * worker thread keeps it alive.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  // pino's default stdout destination is asynchronous: a line still being written could land after one written at exit.
  return pino({ name: options.name ?? 'conductor-health', level: options.level ?? envText('LOG_LEVEL') ?? 'info' }, pino.destination({ fd: 1, sync: true }));
}

/**
 * What the package's classes log to when given no logger: warnings and errors
 * only, as JSON lines on stderr. A library keeps out of its host's stdout.
 */
export function createLibraryLogger(): Logger {
  return pino({ name: 'conductor-health', level: 'warn' }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything, for tests and benchmarks. */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});
