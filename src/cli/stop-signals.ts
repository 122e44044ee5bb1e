import type { Logger } from '../common/logger.ts';

/** Each stops the command cleanly: Ctrl-C, a service manager, a closed terminal. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A stop asked for by a signal; see {@link catchStopSignals}. */
export interface StopRequest {
  /** Resolves with the first stop signal. */
  readonly first: Promise<NodeJS.Signals>;
  /** True once a stop signal has arrived. */
  readonly requested: boolean;
}

/**
 * Catches SIGINT, SIGTERM and SIGHUP from this call until the process exits:
 * the first resolves {@link StopRequest.first}, any later one is logged as
 * "already stopping" and otherwise ignored, since the stop is bounded anyway.
 *
 * The handlers are never removed. Without one, a signal takes its default
 * action and kills the process — in the middle of the stop, before the spans
 * are flushed, or in the last milliseconds while it closes its handles, which
 * turns a clean stop into death by signal (`npm start` and a terminal send
 * Ctrl-C's SIGINT twice: one from the terminal, one forwarded by npm). A
 * handler does not keep the process alive, so leaving it costs nothing. Meant
 * for the command: a process calls it once.
 */
export function catchStopSignals(logger: Logger, target: NodeJS.EventEmitter = process): StopRequest {
  let requested = false;
  let resolveFirst: (signal: NodeJS.Signals) => void = () => {};
  const first = new Promise<NodeJS.Signals>((resolve) => (resolveFirst = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (requested) logger.warn({ signal }, 'already stopping; the stop is bounded and will finish');
    requested = true;
    resolveFirst(signal);
  };
  for (const name of STOP_SIGNALS) target.on(name, onSignal);
  return {
    first,
    get requested() {
      return requested;
    },
  };
}
