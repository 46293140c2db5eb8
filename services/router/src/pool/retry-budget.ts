/**
 * Retries allowed as a fraction of recent requests (Envoy's and Finagle's retry budget): retries
 * help when one worker fails, and must not multiply load when all of them do. Counts live in
 * one-second buckets over a sliding window; `minRetries` lets a quiet router still retry.
 */
export class RetryBudget {
  private readonly requests: number[];
  private readonly retries: number[];
  private bucketStart = 0;
  private head = 0;

  constructor(
    readonly ratio = 0.2,
    readonly windowMs = 10_000,
    readonly minRetries = 3,
    private readonly now: () => number = () => performance.now(),
  ) {
    const n = Math.max(1, Math.ceil(windowMs / 1000));
    this.requests = new Array<number>(n).fill(0);
    this.retries = new Array<number>(n).fill(0);
    this.bucketStart = this.now();
  }

  /** Counts a first attempt. */
  request(): void {
    this.advance();
    this.requests[this.head]!++;
  }

  /** Takes a retry from the budget if one is left; the caller retries only on true. */
  tryRetry(): boolean {
    this.advance();
    const requests = sum(this.requests);
    const retries = sum(this.retries);
    if (retries + 1 > Math.max(this.minRetries, requests * this.ratio)) return false;
    this.retries[this.head]!++;
    return true;
  }

  private advance(): void {
    const now = this.now();
    while (now - this.bucketStart >= 1000) {
      this.bucketStart += 1000;
      this.head = (this.head + 1) % this.requests.length;
      this.requests[this.head] = 0;
      this.retries[this.head] = 0;
      // A long idle gap: every bucket is stale, start afresh.
      if (now - this.bucketStart > this.windowMs) {
        this.requests.fill(0);
        this.retries.fill(0);
        this.bucketStart = now;
      }
    }
  }
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
