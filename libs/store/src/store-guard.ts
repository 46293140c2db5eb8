/** How a guarded store call failed: it threw, or it did not answer within the deadline. */
export type StoreFailure = 'timeout' | 'error';

/** A guarded call's outcome: the store's answer, or how it failed. */
export type Guarded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: StoreFailure; readonly error: Error };

/** Thrown by {@link StoreGuard.call} when the guard fails closed. */
export class StoreUnavailableError extends Error {
  constructor(
    readonly failure: StoreFailure,
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
  /** Every failed call (metrics, tests). */
  readonly onFailure?: (failure: StoreFailure, error: Error) => void;
  /** The first failure of an outage, to log once rather than once per request. */
  readonly onOutage?: (failure: StoreFailure, error: Error) => void;
  /** The first success after an outage. */
  readonly onRecovery?: () => void;
}

/**
 * Store calls on a request path: each gets a deadline (a hung Redis must not hang requests), a
 * failure is the caller's to decide (fail open: a fallback; fail closed: an error), and an outage
 * is reported once when it starts and once when it ends, not once per call.
 */
export class StoreGuard {
  private failing = false;

  constructor(private readonly opts: StoreGuardOptions) {}

  /** True from a failed call until the next successful one. */
  get down(): boolean {
    return this.failing;
  }

  /** One call under the deadline. A late answer or error after it is dropped. */
  async attempt<T>(call: () => Promise<T>): Promise<Guarded<T>> {
    const { name, timeoutMs } = this.opts;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    try {
      const pending = call().then((value) => ({ value }));
      // The store call goes on after a timeout; its late error must not go unhandled.
      pending.catch(() => undefined);
      const answer = await Promise.race([pending, deadline]);
      if (answer === 'timeout') return this.failed('timeout', new Error(`${name}: the store did not answer within ${timeoutMs} ms`));
      if (this.failing) {
        this.failing = false;
        this.opts.onRecovery?.();
      }
      return { ok: true, value: answer.value };
    } catch (err) {
      return this.failed('error', err instanceof Error ? err : new Error(String(err)));
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The call's answer; when the store fails, `fallback` (failing open) or, failing closed,
   * @throws StoreUnavailableError
   */
  async call<T>(call: () => Promise<T>, fallback: T): Promise<T> {
    const r = await this.attempt(call);
    if (r.ok) return r.value;
    if (this.opts.failure === 'closed') throw new StoreUnavailableError(r.failure, { cause: r.error });
    return fallback;
  }

  private failed(failure: StoreFailure, error: Error): Guarded<never> {
    this.opts.onFailure?.(failure, error);
    if (!this.failing) {
      this.failing = true;
      this.opts.onOutage?.(failure, error);
    }
    return { ok: false, failure, error };
  }
}
