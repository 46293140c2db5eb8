import type { OutlierState } from './worker';

export interface OutlierPolicy {
  /** Consecutive failures that eject a worker (default 5). */
  readonly consecutiveFailures: number;
  /** Ejection time is this × the number of times the worker was ejected (default 30 s). */
  readonly baseEjectionMs: number;
  /** At most this fraction of the pool is ejected at once (default 0.5). */
  readonly maxEjectedFraction: number;
}

export const DEFAULT_OUTLIER_POLICY: OutlierPolicy = { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectedFraction: 0.5 };

/**
 * Envoy-style consecutive-failure outlier detection. Ejecting is refused when it would take more
 * than `maxEjectedFraction` of the pool out: a mesh-wide failure (bad deploy, overload) must not
 * empty the pool and turn slow answers into no answers.
 */
export class OutlierDetector {
  constructor(readonly policy: OutlierPolicy = DEFAULT_OUTLIER_POLICY) {}

  /** A call that worked: the failure streak is over. */
  success(s: OutlierState): void {
    s.consecutiveFailures = 0;
  }

  /**
   * A call that failed because of the worker. Returns true when this failure ejected it.
   * `poolSize` and `ejectedNow` describe the pool the worker belongs to.
   */
  failure(s: OutlierState, now: number, poolSize: number, ejectedNow: number): boolean {
    s.consecutiveFailures++;
    if (s.consecutiveFailures < this.policy.consecutiveFailures || this.isEjected(s, now)) return false;
    if (ejectedNow + 1 > Math.floor(poolSize * this.policy.maxEjectedFraction)) return false;
    s.ejections++;
    s.ejectedUntil = now + this.policy.baseEjectionMs * s.ejections;
    s.consecutiveFailures = 0;
    return true;
  }

  isEjected(s: OutlierState, now: number): boolean {
    return s.ejectedUntil > now;
  }
}
