/** When a dependency counts as down and how long calls to it are skipped. */
export interface CircuitBreakerOptions {
  /** Consecutive failures (timeouts or errors) that open the circuit; 0 = never open (no breaker). */
  readonly failures: number;
  /** The first cool-down: calls are skipped this long after the circuit opens, then one probe goes through. */
  readonly cooldownMs: number;
  /** Each failed probe doubles the cool-down up to this; default 30 000 (or `cooldownMs`, if longer). */
  readonly maxCooldownMs?: number;
}

/** Defaults for a store on a request path: 3 failures, 1 s doubling to 30 s. */
export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerOptions = { failures: 3, cooldownMs: 1000, maxCooldownMs: 30_000 };

/** `closed`: calls go through. `open`: calls are skipped until the cool-down ends. `half-open`: one probe is in flight, the rest are skipped. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** What one call may do: go through (`call`), go through as the one probe of a cool-down's end (`probe`), or not be made (`skip`). */
export type Admission = 'call' | 'probe' | 'skip';

/**
 * The circuit breaker's state machine, without timers: time is read from `now` when a call asks
 * to go through, so an idle dependency costs nothing and a probe goes out only when a caller
 * wants the dependency anyway. The caller reports each call's outcome with the admission it got.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private consecutive = 0;
  private cooldown: number;
  private reopensAt = 0;
  private readonly maxCooldownMs: number;

  constructor(
    private readonly opts: CircuitBreakerOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(Number.isInteger(opts.failures) && opts.failures >= 0)) throw new RangeError(`failures must be a non-negative integer, got ${opts.failures}`);
    if (!(opts.cooldownMs > 0)) throw new RangeError(`cooldownMs must be positive, got ${opts.cooldownMs}`);
    this.cooldown = opts.cooldownMs;
    this.maxCooldownMs = Math.max(opts.maxCooldownMs ?? 30_000, opts.cooldownMs);
  }

  get state(): CircuitState {
    return this.current;
  }

  /** Consecutive failures while closed; how many opened it while open. */
  get failures(): number {
    return this.consecutive;
  }

  /** Ms until the next probe may go out (0 when closed or due). */
  get retryInMs(): number {
    return this.current === 'closed' ? 0 : Math.max(0, this.reopensAt - this.now());
  }

  /** Whether a call may go through now; a `probe` must be followed by `succeeded` or `failed(true)`. */
  admit(): Admission {
    if (this.current === 'closed') return 'call';
    if (this.current === 'half-open' || this.now() < this.reopensAt) return 'skip';
    this.current = 'half-open';
    return 'probe';
  }

  /** A call answered; true when this closed an open circuit (the dependency is back). */
  succeeded(): boolean {
    this.consecutive = 0;
    if (this.current === 'closed') return false;
    // Any answer, a probe's or a late one from before the circuit opened, shows it is back.
    this.current = 'closed';
    this.cooldown = this.opts.cooldownMs;
    return true;
  }

  /** A call failed; true when this opened a closed circuit (the dependency is down). */
  failed(probe: boolean): boolean {
    if (this.current === 'closed') {
      this.consecutive++;
      if (this.opts.failures === 0 || this.consecutive < this.opts.failures) return false;
      this.current = 'open';
      this.reopensAt = this.now() + this.cooldown;
      return true;
    }
    // Calls begun before the circuit opened say nothing new; only the probe's failure extends the wait.
    if (probe && this.current === 'half-open') {
      this.cooldown = Math.min(this.cooldown * 2, this.maxCooldownMs);
      this.current = 'open';
      this.reopensAt = this.now() + this.cooldown;
    }
    return false;
  }
}
