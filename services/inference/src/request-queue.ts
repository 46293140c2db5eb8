/** What the queue needs to know about a waiting request. */
export interface Queued {
  readonly id: string;
  /** Lower runs first; FIFO within a level. */
  readonly priority: number;
  /** performance.now() after which the request is dropped unstarted; undefined: none. */
  readonly deadline: number | undefined;
  readonly enqueuedAt: number;
}

/** The queue is full: callers should answer RESOURCE_EXHAUSTED with this retry hint. */
export class QueueFullError extends Error {
  constructor(
    readonly size: number,
    readonly retryAfterMs: number,
  ) {
    super(`the queue is full (${size} requests waiting); retry after ${Math.ceil(retryAfterMs / 1000)} s`);
    this.name = 'QueueFullError';
  }
}

/**
 * The single owner of waiting requests (as TGI's queue): ordered by priority, then arrival;
 * bounded; requests leave it by admission, cancellation or deadline. It knows nothing of the
 * model: the engine decides what fits.
 */
export class RequestQueue<T extends Queued> {
  private readonly items: T[] = [];

  constructor(
    private readonly maxSize: number,
    /** Hint for a rejected caller, e.g. the time a request typically waits. */
    private readonly retryAfterMs: () => number,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** The request that has waited longest, if any. */
  oldest(): T | undefined {
    let o: T | undefined;
    for (const r of this.items) if (!o || r.enqueuedAt < o.enqueuedAt) o = r;
    return o;
  }

  /** @throws QueueFullError at once when `maxSize` requests are already waiting. */
  push(r: T): void {
    if (this.items.length >= this.maxSize) throw new QueueFullError(this.items.length, this.retryAfterMs());
    // Insert after every request of the same or a better (lower) priority: FIFO within a level.
    let i = this.items.length;
    while (i > 0 && this.items[i - 1]!.priority > r.priority) i--;
    this.items.splice(i, 0, r);
  }

  has(id: string): boolean {
    return this.items.some((r) => r.id === id);
  }

  remove(id: string): T | undefined {
    const i = this.items.findIndex((r) => r.id === id);
    return i < 0 ? undefined : this.items.splice(i, 1)[0];
  }

  /** Removes and returns the requests whose deadline is before `now`. */
  expire(now: number): T[] {
    const expired = this.items.filter((r) => r.deadline !== undefined && r.deadline <= now);
    for (const r of expired) this.items.splice(this.items.indexOf(r), 1);
    return expired;
  }

  /**
   * Takes requests in order while `fits` accepts them, stopping at the first it refuses: a large
   * request at the head is not starved by smaller ones behind it.
   */
  take(fits: (r: T) => boolean): T[] {
    const taken: T[] = [];
    while (this.items.length > 0 && fits(this.items[0]!)) taken.push(this.items.shift()!);
    return taken;
  }
}
