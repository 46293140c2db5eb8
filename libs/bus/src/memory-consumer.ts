import type { MemoryStream, StoredMessage } from './memory-stream';
import type { ResolvedConsumeOptions } from './options';

interface Pending {
  /** Deliveries so far. */
  count: number;
  /** Ack-wait or nak-delay timer. */
  timer?: NodeJS.Timeout;
}

/**
 * The state of one durable consumer, which outlives any bus that reads it (as on the server):
 * the next never-delivered sequence, delivered-but-unacked messages with their delivery counts,
 * and the queue of messages due for redelivery. Timers are unref'd so they never keep a process
 * alive.
 */
export class MemoryConsumer {
  private nextSeq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly due: number[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(
    readonly stream: MemoryStream,
    readonly name: string,
    public opts: ResolvedConsumeOptions,
  ) {}

  /** Messages not delivered yet plus those delivered and not acked. */
  get lag(): number {
    return Math.max(0, this.stream.last - this.nextSeq + 1) + this.pending.size;
  }

  /** Registers a reader to call when messages may be available; returns the removal. */
  attach(wake: () => void): () => void {
    this.wakers.add(wake);
    return () => this.wakers.delete(wake);
  }

  wake(): void {
    for (const wake of this.wakers) wake();
  }

  /** The next message to deliver (redeliveries first), counted as delivered, or undefined. */
  take(): { msg: StoredMessage; count: number } | undefined {
    while (this.due.length > 0) {
      const seq = this.due.shift()!;
      const msg = this.stream.get(seq);
      const p = this.pending.get(seq);
      if (msg && p) return this.deliver(msg, p);
    }
    while (this.nextSeq <= this.stream.last) {
      const msg = this.stream.get(this.nextSeq++);
      if (msg) return this.deliver(msg, { count: 0 });
    }
    return undefined;
  }

  ack(seq: number): void {
    const p = this.pending.get(seq);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(seq);
    this.stream.acked(seq);
  }

  nak(seq: number, delayMs = 0): void {
    const p = this.pending.get(seq);
    if (!p) return;
    clearTimeout(p.timer);
    if (delayMs > 0) p.timer = this.timer(delayMs, () => this.redeliver(seq));
    else this.redeliver(seq);
  }

  /** Restarts the ack wait of a message being worked on. */
  working(seq: number): void {
    const p = this.pending.get(seq);
    if (!p || this.due.includes(seq)) return;
    clearTimeout(p.timer);
    p.timer = this.timer(this.opts.ackWaitMs, () => this.redeliver(seq));
  }

  private deliver(msg: StoredMessage, p: Pending): { msg: StoredMessage; count: number } {
    p.count++;
    this.pending.set(msg.seq, p);
    p.timer = this.timer(this.opts.ackWaitMs, () => this.redeliver(msg.seq));
    return { msg, count: p.count };
  }

  // Past maxDeliver the message is given up on: it stays in the stream but is never delivered again.
  private redeliver(seq: number): void {
    const p = this.pending.get(seq);
    if (!p) return;
    p.timer = undefined;
    if (this.opts.maxDeliver > 0 && p.count >= this.opts.maxDeliver) {
      this.pending.delete(seq);
      return;
    }
    this.due.push(seq);
    this.wake();
  }

  private timer(ms: number, fn: () => void): NodeJS.Timeout {
    return setTimeout(fn, ms).unref();
  }
}
