/**
 * A single-consumer queue that a producer fills and a `for await` drains, one item at a time or,
 * with `batches()`, everything that is waiting at once: a consumer that fell behind gets the
 * backlog in one piece instead of paying its per-item cost for each.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  push(item: T): void {
    this.items.push(item);
    this.wake?.();
  }

  /** Ends the stream after the queued items; with an error, the consumer throws it. */
  end(error?: Error): void {
    this.ended = true;
    this.error = error;
    this.wake?.();
  }

  private async waitForMore(): Promise<boolean> {
    while (this.items.length === 0) {
      if (this.ended) {
        if (this.error) throw this.error;
        return false;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return true;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (await this.waitForMore()) yield this.items.shift()!;
  }

  /** Everything queued since the last batch (never empty); ends like the item stream. */
  async *batches(): AsyncGenerator<T[]> {
    while (await this.waitForMore()) {
      const batch = this.items;
      this.items = [];
      yield batch;
    }
  }
}
