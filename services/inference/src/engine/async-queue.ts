/**
 * A single-consumer queue that a producer fills and a `for await` drains, one item at a time or,
 * with `batches()`, everything that is waiting at once: a consumer that fell behind gets the
 * backlog in one piece instead of paying its per-item cost for each.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;
  /** Items that wake a waiting consumer (batches with a minimum); the end always does. */
  private wakeAt = 1;
  /** Ends a hold early. */
  private onEnd: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  push(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.wakeAt) this.wake?.();
  }

  /** Ends the stream after the queued items; with an error, the consumer throws it. */
  end(error?: Error): void {
    this.ended = true;
    this.error = error;
    this.wake?.();
    this.onEnd?.();
  }

  private async waitForMore(min = 1): Promise<boolean> {
    this.wakeAt = min;
    while (this.items.length < min) {
      if (this.ended) {
        // What is left goes out even if fewer than asked for; then the end (or its error).
        if (this.items.length > 0) break;
        if (this.error) throw this.error;
        return false;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    this.wakeAt = 1;
    return true;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (await this.waitForMore()) yield this.items.shift()!;
  }

  /**
   * Everything queued since the last batch (never empty); ends like the item stream. With
   * `holdMs`, after each batch the next is collected for that long (read after each batch) unless
   * the stream ends first; with `minItems`, a batch waits for that many items (or the end), and
   * the consumer is not woken before: fewer, fuller batches.
   */
  async *batches(holdMs?: () => number, minItems = 1): AsyncGenerator<T[]> {
    while (await this.waitForMore(minItems)) {
      const batch = this.items;
      this.items = [];
      yield batch;
      const hold = holdMs?.() ?? 0;
      if (hold > 0 && !this.ended) await this.sleepUnlessEnded(hold);
    }
  }

  private sleepUnlessEnded(ms: number): Promise<void> {
    // end() cuts the hold short; pushes do not (they are what it collects).
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.onEnd = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.onEnd = done;
    });
  }
}
