import type { PublishAck, StreamConfig } from './bus';
import type { Headers } from './headers';
import type { MemoryConsumer } from './memory-consumer';
import { subjectMatches } from './subject';

/** One stored message. */
export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Headers;
  msgId?: string;
}

/**
 * An in-memory JetStream stream: sequence-numbered messages, msgId dedup within a window, and the
 * durable consumers reading it. Work-queue retention deletes a message once it is acked.
 */
export class MemoryStream {
  private readonly messages = new Map<number, StoredMessage>();
  /** Stored messages per subject, so a count reads the subjects, not every message. */
  private readonly perSubject = new Map<string, number>();
  private readonly seen = new Map<string, { seq: number; until: number }>();
  private lastSeq = 0;
  readonly consumers = new Map<string, MemoryConsumer>();

  constructor(public config: Required<StreamConfig>) {}

  /** Stores a message unless its msgId was seen within the dedup window. */
  append(subject: string, data: Uint8Array, headers: Headers, msgId: string | undefined): PublishAck {
    const now = Date.now();
    const name = this.config.name;
    if (msgId !== undefined) {
      const prior = this.seen.get(msgId);
      if (prior && prior.until > now) return { stream: name, seq: prior.seq, duplicate: true };
      this.forgetExpiredIds(now);
    }
    const seq = ++this.lastSeq;
    const stored: StoredMessage = { seq, subject, data, headers };
    if (msgId !== undefined) {
      stored.msgId = msgId;
      this.seen.delete(msgId); // re-insert at the end, keeping the map in expiry order
      this.seen.set(msgId, { seq, until: now + this.config.duplicateWindowMs });
    }
    this.messages.set(seq, stored);
    this.perSubject.set(subject, (this.perSubject.get(subject) ?? 0) + 1);
    for (const consumer of this.consumers.values()) consumer.wake();
    return { stream: name, seq, duplicate: false };
  }

  get(seq: number): StoredMessage | undefined {
    return this.messages.get(seq);
  }

  /** Stored messages whose subject matches `pattern`. */
  count(pattern: string): number {
    if (!/[*>]/.test(pattern)) return this.perSubject.get(pattern) ?? 0;
    let n = 0;
    for (const [subject, c] of this.perSubject) if (subjectMatches(pattern, subject)) n += c;
    return n;
  }

  get last(): number {
    return this.lastSeq;
  }

  /** A consumer acked `seq`. */
  acked(seq: number): void {
    if (this.config.retention !== 'workqueue') return;
    const m = this.messages.get(seq);
    if (!m) return;
    this.messages.delete(seq);
    const left = (this.perSubject.get(m.subject) ?? 1) - 1;
    if (left > 0) this.perSubject.set(m.subject, left);
    else this.perSubject.delete(m.subject);
  }

  // Map iteration is insertion order, which is expiry order for a fixed window.
  private forgetExpiredIds(now: number): void {
    for (const [id, entry] of this.seen) {
      if (entry.until > now) break;
      this.seen.delete(id);
    }
  }
}
