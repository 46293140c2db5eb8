import type { Registry } from '@tokenmesh/metrics';

import { type Admission, CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker';
import { type StoreGuardMetrics, storeGuardMetrics } from './store-guard-metrics';

/** How a guarded store call failed: it threw, or it did not answer within the deadline. */
export type StoreFailure = 'timeout' | 'error';

/** Why a guarded call has no answer: the store failed, or it was not called because the circuit is open. */
export type GuardFailure = StoreFailure | 'circuit-open';

/** A guarded call's outcome: the store's answer, or how it failed. */
export type Guarded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: GuardFailure; readonly error: Error };

/** Thrown by {@link StoreGuard.call} when the guard fails closed. */
export class StoreUnavailableError extends Error {
  constructor(
    readonly failure: GuardFailure,
    options: { cause: Error },
  ) {
    super(options.cause.message, options);
    this.name = 'StoreUnavailableError';
  }
}

export interface StoreGuardOptions {
  /** Names the store's user in errors: `<name>: the store did not answer within 250 ms`. */
  readonly name: string;
  /** How long a call may take before it counts as failed. */
  readonly timeoutMs: number;
  /** What {@link StoreGuard.call} does when the store fails: answer with the caller's fallback (`open`, default) or throw StoreUnavailableError (`closed`). */
  readonly failure?: 'open' | 'closed';
  /**
   * Skip calls after consecutive failures (see {@link CircuitBreaker}); absent or `failures: 0`:
   * every call goes to the store and waits out its deadline.
   */
  readonly breaker?: CircuitBreakerOptions;
  /** Where the guard's instruments go, and the `dependency` label that tells its series from other guards'. */
  readonly metrics?: { readonly registry: Registry; readonly dependency: string };
  /** Every failed call (metrics, tests); skipped calls are not calls. */
  readonly onFailure?: (failure: StoreFailure, error: Error) => void;
  /**
   * The start of an outage, told once: when the circuit opens, or without a breaker at the first
   * failure. `failures` is how many consecutive failures it took.
   */
  readonly onOutage?: (failure: StoreFailure, error: Error, failures: number) => void;
  /** The first success after an outage (the probe that closed the circuit). */
  readonly onRecovery?: () => void;
  /** The breaker's clock (tests); default `performance.now`. */
  readonly now?: () => number;
}

/**
 * Store calls on a request path: each gets a deadline (a hung Redis must not hang requests), a
 * failure is the caller's to decide (fail open: a fallback; fail closed: an error), and an outage
 * is reported once when it starts and once when it ends, not once per call.
 *
 * With a breaker, an outage costs requests nothing: after `failures` consecutive failures the
 * circuit opens and calls are answered at once without the store (fallback or
 * StoreUnavailableError `circuit-open`) for a cool-down; then one probe call goes through, and
 * its success closes the circuit (its failure doubles the cool-down, up to a maximum).
 */
export class StoreGuard {
  private failing = false;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly metrics: StoreGuardMetrics | undefined;

  constructor(private readonly opts: StoreGuardOptions) {
    this.breaker = opts.breaker && opts.breaker.failures > 0 ? new CircuitBreaker(opts.breaker, opts.now) : undefined;
    this.metrics = opts.metrics && storeGuardMetrics(opts.metrics.registry, opts.metrics.dependency);
  }

  /** True from the start of an outage (see `onOutage`) until the next successful call. */
  get down(): boolean {
    return this.failing;
  }

  /** One call under the deadline, unless the circuit is open. A late answer or error after the deadline is dropped. */
  async attempt<T>(call: () => Promise<T>): Promise<Guarded<T>> {
    const { name, timeoutMs } = this.opts;
    const admission: Admission = this.breaker?.admit() ?? 'call';
    if (admission === 'skip') return this.skipped();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    try {
      const pending = call().then((value) => ({ value }));
      // The store call goes on after a timeout; its late error must not go unhandled.
      pending.catch(() => undefined);
      const answer = await Promise.race([pending, deadline]);
      if (answer === 'timeout') return this.failed('timeout', new Error(`${name}: the store did not answer within ${timeoutMs} ms`), admission);
      this.breaker?.succeeded();
      if (this.failing) {
        this.failing = false;
        this.metrics?.open(false);
        this.opts.onRecovery?.();
      }
      return { ok: true, value: answer.value };
    } catch (err) {
      return this.failed('error', err instanceof Error ? err : new Error(String(err)), admission);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The call's answer; when the store fails (or is skipped), `fallback` (failing open) or,
   * failing closed, @throws StoreUnavailableError
   */
  async call<T>(call: () => Promise<T>, fallback: T): Promise<T> {
    const r = await this.attempt(call);
    if (r.ok) return r.value;
    if (this.opts.failure === 'closed') throw new StoreUnavailableError(r.failure, { cause: r.error });
    return fallback;
  }

  private skipped(): Guarded<never> {
    this.metrics?.skipped();
    const b = this.breaker!;
    const error = new Error(
      `${this.opts.name}: the store is not called for ${Math.ceil(b.retryInMs)} ms more, after ${b.failures} consecutive failures (circuit open)`,
    );
    return { ok: false, failure: 'circuit-open', error };
  }

  private failed(failure: StoreFailure, error: Error, admission: Admission): Guarded<never> {
    this.metrics?.failed(failure);
    this.opts.onFailure?.(failure, error);
    const opened = this.breaker ? this.breaker.failed(admission === 'probe') : true;
    if (opened && !this.failing) {
      this.failing = true;
      if (this.breaker) this.metrics?.open(true);
      this.opts.onOutage?.(failure, error, this.breaker?.failures ?? 1);
    }
    return { ok: false, failure, error };
  }
}
