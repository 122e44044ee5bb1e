/**
 * The half-open trial as opossum sees it: the "promise" its `fire()` waits
 * on. opossum subscribes with `then(ok).catch(fail)` inside `fire()`, so
 * settling this calls straight into its success/failure handling, and the
 * breaker has closed or re-opened before `recordSuccess()` /
 * `recordFailure()` returns. A real promise would settle a microtask later,
 * when the state may already have moved on (that stale result would then
 * close or open the wrong half-open period).
 */
export class Trial {
  private onSuccess: ((value: unknown) => unknown) | undefined;
  private onFailure: ((error: unknown) => unknown) | undefined;

  then(onSuccess?: (value: unknown) => unknown, onFailure?: (error: unknown) => unknown): this {
    this.onSuccess = onSuccess;
    if (onFailure) this.onFailure = onFailure;
    return this;
  }

  catch(onFailure: (error: unknown) => unknown): this {
    this.onFailure = onFailure;
    return this;
  }

  succeed(): void {
    this.onSuccess?.(undefined);
  }

  /** Fails the trial. opossum is handed no error: it needs none, and one of the caller's could throw when read. */
  fail(): void {
    this.onFailure?.(undefined);
  }
}
