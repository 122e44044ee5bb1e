/**
 * One `execute()` call under a permit, when it cannot take the breaker's
 * fast path: the permit gets the call's outcome exactly once. A call with a
 * timeout or a caller signal gets its own AbortController, made only then
 * (`new AbortController()` per call costs ~4.4 µs, 40x a bare call).
 */
import { notThenable } from './errors.ts';
import type { BreakerPermit } from './permit.ts';
import { TimeoutError } from '../core/timeout-error.ts';

/** A function given to `execute()`. */
type Call<T> = (signal: AbortSignal) => PromiseLike<T>;

/** Calls `fn` with a signal nothing aborts; a throw, a rejection or a value that is not a promise is a failure. */
export function callWithPermit<T>(platform: string, fn: Call<T>, permit: BreakerPermit, signal: AbortSignal): Promise<T> {
  let result: unknown;
  try {
    result = fn(signal);
  } catch (error) {
    permit.failure(error);
    return Promise.reject(error);
  }
  const error = notThenable(platform, result);
  if (error !== undefined) {
    permit.failure(error);
    return Promise.reject(error);
  }
  return Promise.resolve(result).then(
    (value) => {
      permit.success();
      return value as T;
    },
    (error: unknown) => {
      permit.failure(error);
      throw error;
    },
  );
}

/**
 * Calls `fn` with its own signal, aborted by the timeout (a failure,
 * {@link TimeoutError}) or by the caller's signal (no verdict: the
 * permit is released). `pending` holds the call's cancel function while it
 * runs, so the breaker's shutdown can cancel it and leave no timer or listener.
 */
export function callAbortable<T>(
  platform: string,
  fn: Call<T>,
  permit: BreakerPermit,
  timeoutMs: number,
  callerSignal: AbortSignal | undefined,
  pending: Set<(error: unknown) => void>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
      pending.delete(cancel);
      return true;
    };
    const fail = (error: unknown): void => {
      if (!finish()) return;
      controller.abort(error);
      permit.failure(error);
      reject(error);
    };
    // No verdict on the platform: nothing is counted, and a trial goes to the next caller.
    const abandon = (reason: unknown): void => {
      if (!finish()) return;
      controller.abort(reason);
      permit.release();
      reject(reason);
    };
    const cancel = (error: unknown): void => abandon(error);
    const onCallerAbort = (): void => abandon(callerSignal?.reason);

    pending.add(cancel);
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    if (timeoutMs > 0) {
      timer = setTimeout(() => fail(new TimeoutError(platform, timeoutMs)), timeoutMs);
      timer.unref?.();
    }
    let result: unknown;
    try {
      result = fn(controller.signal);
    } catch (error) {
      fail(error);
      return;
    }
    const error = notThenable(platform, result);
    if (error !== undefined) {
      fail(error);
      return;
    }
    // Through Promise.resolve: a `then` of the caller's that throws becomes a rejection, not a throw in here.
    Promise.resolve(result).then(
      (value) => {
        if (!finish()) return;
        permit.success();
        resolve(value as T);
      },
      (error: unknown) => {
        if (!finish()) return;
        permit.failure(error);
        reject(error);
      },
    );
  });
}
