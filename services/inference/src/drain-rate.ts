/**
 * How fast the engine has been finishing work, over a sliding window: requests per second and
 * KV tokens (prompt + max_tokens, what each frees) per second. Read to estimate how long a new
 * request would wait in the queue.
 */
export class DrainRate {
  private readonly events: { at: number; tokens: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  /** One request left the running batch, freeing `tokens` of the KV budget. */
  record(tokens: number, at = performance.now()): void {
    this.events.push({ at, tokens });
    this.prune(at);
  }

  private prune(now: number): void {
    let drop = 0;
    while (drop < this.events.length && this.events[drop]!.at < now - this.windowMs) drop++;
    if (drop > 0) this.events.splice(0, drop);
  }

  /**
   * Estimated ms until `requests` queued requests holding `tokens` KV tokens more than the free
   * budget have been admitted, at the rate seen in the window; 0 while nothing has finished in it.
   */
  estimateMs(requests: number, tokens: number, now = performance.now()): number {
    this.prune(now);
    if (this.events.length < 2) return 0;
    const span = Math.max(now - this.events[0]!.at, 1);
    const perMs = this.events.length / span;
    const tokensPerMs = this.events.reduce((s, e) => s + e.tokens, 0) / span;
    return Math.max(requests / perMs, Math.max(0, tokens) / tokensPerMs);
  }
}
