/** The engine's admission limits (TGI's names and meanings). */
export interface EngineLimits {
  /** Sequences decoded together at most. */
  readonly maxBatchSize: number;
  /** Prompt tokens prefilled in one step at most. */
  readonly maxBatchPrefillTokens: number;
  /** KV budget: the sum over running requests of prompt + max_tokens. */
  readonly maxBatchTotalTokens: number;
  /** Requests waiting at most, whatever they cost; beyond it, RESOURCE_EXHAUSTED at once. */
  readonly maxQueueSize: number;
  /**
   * KV tokens (prompt + max_tokens) of the waiting requests at most: the queue is bounded by
   * what its requests will cost, not by how many there are.
   */
  readonly maxQueueTokens: number;
  /**
   * A request whose estimated wait (the requests ahead of it over the rate the running batch
   * finishes them, see WaitEstimate) exceeds this is refused at once with that estimate as its
   * retry hint.
   */
  readonly maxQueueWaitMs: number;
  /** When idle, how long to gather arrivals into one prefill batch (Triton's max_queue_delay). */
  readonly maxQueueDelayMs: number;
  /**
   * While requests of a better (lower) priority run, or ran in the last `yieldWindowMs`, requests
   * of a worse one run at most this many at once; the rest wait in the queue. On a CPU every row
   * of a decode step lengthens it for every sequence in it, so background work (batch lines,
   * priority 10) gets the capacity interactive traffic leaves, and is never starved. 0: no limit.
   */
  readonly yieldRows: number;
  /** How long after the last better-priority request left the worse ones stay held to `yieldRows`: closed-loop clients leave gaps between requests. */
  readonly yieldWindowMs: number;
}

export const DEFAULT_LIMITS: EngineLimits = {
  maxBatchSize: 32,
  maxBatchPrefillTokens: 4096,
  maxBatchTotalTokens: 32_768,
  maxQueueSize: 4096,
  // Eight full batches' worth of KV reservations waiting: 500 concurrent short requests queue.
  maxQueueTokens: 8 * 32_768,
  maxQueueWaitMs: 30_000,
  maxQueueDelayMs: 0,
  yieldRows: 1,
  yieldWindowMs: 1000,
};

/** A request that could never be admitted under the limits: the caller's input, not load. */
export class RequestTooLargeError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'RequestTooLargeError';
  }
}

/** The request's deadline passed while it waited in the queue. */
export class QueueDeadlineError extends Error {
  constructor(waitedMs: number) {
    super(`deadline exceeded after ${Math.round(waitedMs)} ms in the queue`);
    this.name = 'QueueDeadlineError';
  }
}
