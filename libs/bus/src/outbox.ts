import type { Bus } from './bus';
import { BusError } from './errors';
import type { Headers } from './headers';
import type { OutboxSpool } from './outbox-spool';

/** One event waiting for its stream's ack. */
interface Pending {
  readonly data: Uint8Array;
  readonly msgId: string;
  readonly headers?: Headers;
}

/** Where the outbox reports; a service passes its logger. */
export interface OutboxLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface OutboxOptions {
  /** Events held at most, over all subjects; default 10 000. */
  capacity?: number;
  /** First pause after a failed publish; doubled per failure up to `maxBackoffMs`. Default 100. */
  initialBackoffMs?: number;
  /** Default 5000. */
  maxBackoffMs?: number;
  /** Told the depth after every change (for a gauge). */
  onDepth?: (depth: number) => void;
  /** Told of each refused event (for a counter). */
  onShed?: (subject: string) => void;
  logger?: OutboxLogger;
  /**
   * A journal on disk (OutboxSpool): every event is written to it as it is added and marked when
   * acked, and what it recovered from a crashed predecessor is published first. The outbox
   * closes it. Without one, the outbox is memory only.
   */
  spool?: OutboxSpool;
}

function permanent(err: unknown): boolean {
  // Retrying cannot fix a malformed message or a closed bus; anything else (timeouts, no
  // responders while JetStream restarts, lost connections) is the outage the outbox rides out.
  return err instanceof BusError && (err.code === 'invalid' || err.code === 'closed');
}

/**
 * An in-memory outbox in front of `publishDurable`: each event is retried with exponential
 * backoff until the stream acks it, so a NATS outage delays events instead of losing them.
 * Events of one subject are published one at a time, in the order they were added. A retry of a
 * publish that did land (its ack was lost) carries the same `msgId`, so the stream's dedup
 * window stores it once.
 *
 * Bounded: when `capacity` events wait, a new event is refused (counted by `onShed`; one warning
 * when shedding starts and one with the count when it stops). The newest is refused rather than
 * the oldest dropped because the oldest may be in flight, and may already be stored; dropping it
 * would not even tell us what was lost.
 *
 * With a `spool`, what waits here survives a crash of the process (see OutboxSpool); without,
 * it is lost with it.
 */
export class Outbox {
  private readonly queues = new Map<string, Pending[]>();
  private readonly pumps = new Map<string, Promise<void>>();
  private readonly capacity: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private held = 0;
  private shedding = 0;
  private closed = false;
  private aborted = false;
  private wake = new Set<() => void>();

  constructor(
    private readonly bus: Bus,
    private readonly opts: OutboxOptions = {},
  ) {
    this.capacity = opts.capacity ?? 10_000;
    this.initialBackoffMs = opts.initialBackoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000;
    for (const e of opts.spool?.recovered ?? []) this.enqueue(e.subject, { data: e.data, msgId: e.msgId, ...(e.headers ? { headers: e.headers } : {}) });
    if (opts.spool?.recovered.length)
      opts.logger?.warn('outbox recovered events from its journal: publishing them first', { events: opts.spool.recovered.length });
  }

  /** Events not yet acked. */
  get depth(): number {
    return this.held;
  }

  /**
   * Queues an event for `subject`; false when it was refused (outbox full or closed).
   * `msgId` must identify the event (request id, feedback id): it is the dedup key.
   */
  add(subject: string, data: Uint8Array, msgId: string, headers?: Headers): boolean {
    if (this.closed) return false;
    if (this.held >= this.capacity) {
      if (this.shedding === 0) this.opts.logger?.warn('outbox full, refusing new events', { capacity: this.capacity, subject });
      this.shedding++;
      this.opts.onShed?.(subject);
      return false;
    }
    if (this.shedding > 0) {
      this.opts.logger?.warn('outbox stopped shedding', { shed: this.shedding });
      this.shedding = 0;
    }
    const e: Pending = { data, msgId, ...(headers ? { headers } : {}) };
    this.opts.spool?.added({ subject, ...e });
    this.enqueue(subject, e);
    return true;
  }

  private enqueue(subject: string, e: Pending): void {
    let q = this.queues.get(subject);
    if (!q) this.queues.set(subject, (q = []));
    q.push(e);
    this.setDepth(this.held + 1);
    if (!this.pumps.has(subject)) {
      const pump = this.pump(subject, q).finally(() => this.pumps.delete(subject));
      this.pumps.set(subject, pump);
    }
  }

  private setDepth(n: number): void {
    this.held = n;
    this.opts.onDepth?.(n);
  }

  private async pump(subject: string, q: Pending[]): Promise<void> {
    let backoff = this.initialBackoffMs;
    while (q.length > 0 && !this.aborted) {
      const e = q[0]!;
      try {
        await this.bus.publishDurable(subject, e.data, { msgId: e.msgId, ...(e.headers ? { headers: e.headers } : {}) });
      } catch (err) {
        if (!permanent(err)) {
          await this.sleep(backoff);
          backoff = Math.min(backoff * 2, this.maxBackoffMs);
          continue;
        }
        this.opts.logger?.warn('event dropped: the bus refused it', { err, subject, msg_id: e.msgId });
      }
      q.shift();
      this.opts.spool?.acked(subject, e.msgId);
      this.setDepth(this.held - 1);
      backoff = this.initialBackoffMs;
    }
    if (q.length === 0) this.queues.delete(subject);
  }

  // A pause that `close()` can cut short once its grace is over.
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.add(done);
    });
  }

  /**
   * Refuses new events and waits up to `graceMs` for the held ones to be acked; then stops
   * retrying and resolves with the number left unpublished (logged when not 0). Call before
   * closing the bus.
   */
  async close(graceMs = 2000): Promise<number> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([Promise.all([...this.pumps.values()]), grace]);
    clearTimeout(timer);
    this.aborted = true;
    for (const w of [...this.wake]) w();
    // A publish in progress ends on its own timeout; waiting for it would outlast the grace.
    const left = this.held;
    this.opts.spool?.close();
    if (left > 0)
      this.opts.logger?.warn(
        this.opts.spool ? 'outbox closed with events unpublished: kept in its journal for the next start' : 'outbox closed with events unpublished',
        { left },
      );
    if (this.shedding > 0) this.opts.logger?.warn('outbox stopped shedding', { shed: this.shedding });
    return left;
  }
}
