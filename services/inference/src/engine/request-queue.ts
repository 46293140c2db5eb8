/** What the queue needs to know about a waiting request. */
export interface Queued {
  readonly id: string;
  /** Lower runs first; FIFO within a level. */
  readonly priority: number;
  /** performance.now() after which the request is dropped unstarted; undefined: none. */
  readonly deadline: number | undefined;
  readonly enqueuedAt: number;
  /** KV tokens it will reserve once admitted (prompt + max_tokens). */
  readonly cost: number;
}

/** The queue is full: callers should answer RESOURCE_EXHAUSTED with this retry hint. */
export class QueueFullError extends Error {
  constructor(
    /** What is full, e.g. `12 requests waiting`. */
    readonly what: string,
    readonly retryAfterMs: number,
  ) {
    super(`the queue is full (${what}); retry after ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`);
    this.name = 'QueueFullError';
  }
}

/** What the queue may hold. */
export interface QueueBounds {
  /** Requests at most. */
  readonly maxSize: number;
  /** Sum of their costs (KV tokens) at most; a request alone may exceed it only when the queue is empty. */
  readonly maxTokens: number;
}

/**
 * The single owner of waiting requests (as TGI's queue): ordered by priority, then arrival;
 * bounded; requests leave it by admission, cancellation or deadline. It knows nothing of the
 * model: the engine decides what fits.
 */
export class RequestQueue<T extends Queued> {
  private readonly items: T[] = [];
  private tokens = 0;

  constructor(
    private readonly bounds: QueueBounds,
    /** Hint for a rejected caller, e.g. the time the queue needs to drain. */
    private readonly retryAfterMs: () => number,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /**
   * Waiting requests that a new one of `priority` would wait behind (the same or a better
   * priority): where it would be inserted. Searched from the back, so it costs nothing while every
   * request has one priority.
   */
  ahead(priority: number): number {
    let i = this.items.length;
    while (i > 0 && this.items[i - 1]!.priority > priority) i--;
    return i;
  }

  /** KV tokens the waiting requests will reserve. */
  get cost(): number {
    return this.tokens;
  }

  /** The request that has waited longest, if any. */
  oldest(): T | undefined {
    let o: T | undefined;
    for (const r of this.items) if (!o || r.enqueuedAt < o.enqueuedAt) o = r;
    return o;
  }

  /** @throws QueueFullError at once when the queue holds `maxSize` requests or `r` would take it past `maxTokens`. */
  push(r: T): void {
    const { maxSize, maxTokens } = this.bounds;
    if (this.items.length >= maxSize) throw new QueueFullError(`${this.items.length} requests waiting`, this.retryAfterMs());
    if (this.items.length > 0 && this.tokens + r.cost > maxTokens) {
      throw new QueueFullError(`${this.items.length} requests waiting would reserve ${this.tokens + r.cost} KV tokens, over ${maxTokens}`, this.retryAfterMs());
    }
    this.tokens += r.cost;
    // Insert after every request of the same or a better (lower) priority: FIFO within a level.
    this.items.splice(this.ahead(r.priority), 0, r);
  }

  has(id: string): boolean {
    return this.items.some((r) => r.id === id);
  }

  remove(id: string): T | undefined {
    const i = this.items.findIndex((r) => r.id === id);
    if (i < 0) return undefined;
    const [r] = this.items.splice(i, 1);
    this.tokens -= r!.cost;
    return r;
  }

  /** Removes and returns the requests whose deadline is before `now`. */
  expire(now: number): T[] {
    const expired = this.items.filter((r) => r.deadline !== undefined && r.deadline <= now);
    for (const r of expired) this.remove(r.id);
    return expired;
  }

  /**
   * Takes requests in order while `fits` accepts them, stopping at the first it refuses: a large
   * request at the head is not starved by smaller ones behind it.
   */
  take(fits: (r: T) => boolean): T[] {
    const taken: T[] = [];
    while (this.items.length > 0 && fits(this.items[0]!)) {
      const r = this.items.shift()!;
      this.tokens -= r.cost;
      taken.push(r);
    }
    return taken;
  }
}
