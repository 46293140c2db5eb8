/**
 * How long a request joining the queue now would wait, from how the engine has been doing: by
 * Little's law the running batch finishes `running / service time` requests per second, each
 * letting one waiting request in. The service time (admission to finish) is an exponential
 * average over finished requests; until one has finished there is no estimate (0).
 */
export class WaitEstimate {
  private serviceMs: number | undefined;

  /** A request that ran for `ms` (admitted to finished) left the batch. */
  finished(ms: number): void {
    this.serviceMs = this.serviceMs === undefined ? ms : this.serviceMs + 0.1 * (ms - this.serviceMs);
  }

  /** Estimated ms until the last of `queued` waiting requests is admitted, with `running` in the batch. */
  waitMs(queued: number, running: number): number {
    if (this.serviceMs === undefined || queued === 0) return 0;
    return (queued * this.serviceMs) / Math.max(1, running);
  }
}
