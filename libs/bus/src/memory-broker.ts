import type { StreamConfig } from './bus';
import { BusError } from './errors';
import type { Headers } from './headers';
import { MemoryConsumer } from './memory-consumer';
import { MemoryObjectBucket } from './memory-objects';
import { MemoryStream } from './memory-stream';
import type { BucketOptions } from './objects';
import type { ResolvedConsumeOptions } from './options';
import { patternsOverlap, subjectMatches } from './subject';

type Deliver = (subject: string, data: Uint8Array, headers: Headers) => void;

/**
 * The in-memory stand-in for nats-server: subscriptions, streams and durable consumers. Every
 * `MemoryBus` given the same broker sees the same traffic, the way NATS connections share a
 * server, so one process (`npm start`) can run all services on one broker.
 */
export class MemoryBroker {
  private readonly subs = new Set<{ pattern: string; deliver: Deliver }>();
  private readonly streams = new Map<string, MemoryStream>();
  private readonly buckets = new Map<string, MemoryObjectBucket>();

  /** The object bucket `name`, created on first use; later calls update its options. */
  bucket(name: string, opts: BucketOptions): MemoryObjectBucket {
    let b = this.buckets.get(name);
    if (b) b.configure(opts);
    else this.buckets.set(name, (b = new MemoryObjectBucket(opts)));
    return b;
  }

  /** Adds a subscription; returns its removal. */
  subscribe(pattern: string, deliver: Deliver): () => void {
    const sub = { pattern, deliver };
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }

  /** Hands each matching subscription its own copy of the payload. */
  publish(subject: string, data: Uint8Array, headers: Headers): void {
    for (const sub of this.subs) {
      if (subjectMatches(sub.pattern, subject)) sub.deliver(subject, new Uint8Array(data), { ...headers });
    }
  }

  ensureStream(config: Required<StreamConfig>): void {
    const existing = this.streams.get(config.name);
    if (existing && existing.config.retention !== config.retention) {
      throw new BusError('conflict', `stream ${config.name} exists with retention ${existing.config.retention}; cannot change it to ${config.retention}`);
    }
    for (const other of this.streams.values()) {
      if (other === existing) continue;
      const clash = config.subjects.find((s) => other.config.subjects.some((o) => patternsOverlap(s, o)));
      if (clash) throw new BusError('conflict', `subjects of stream ${config.name} overlap stream ${other.config.name} (${clash})`);
    }
    if (existing) existing.config = { ...config };
    else this.streams.set(config.name, new MemoryStream({ ...config }));
  }

  /** The stream holding `subject`. @throws BusError(`no-stream`) */
  streamFor(subject: string): MemoryStream {
    for (const stream of this.streams.values()) {
      if (stream.config.subjects.some((p) => subjectMatches(p, subject))) return stream;
    }
    throw new BusError('no-stream', `no stream holds subject ${subject}`);
  }

  /** The stream named `name`. @throws BusError(`stream-not-found`) */
  stream(name: string): MemoryStream {
    const s = this.streams.get(name);
    if (!s) throw new BusError('stream-not-found', `stream ${name} not found`);
    return s;
  }

  /** The durable consumer `durable` of `stream` if it exists. @throws BusError(`stream-not-found`) */
  existingConsumer(stream: string, durable: string): MemoryConsumer | undefined {
    return this.stream(stream).consumers.get(durable);
  }

  /**
   * The durable consumer `durable` of `stream`, created (at the stream's start) or updated.
   * @throws BusError `stream-not-found`, or `conflict` for a second consumer on a work queue.
   */
  consumer(stream: string, durable: string, opts: ResolvedConsumeOptions): MemoryConsumer {
    const s = this.streams.get(stream);
    if (!s) throw new BusError('stream-not-found', `stream ${stream} not found`);
    let consumer = s.consumers.get(durable);
    if (consumer) {
      consumer.opts = opts;
      return consumer;
    }
    if (s.config.retention === 'workqueue' && s.consumers.size > 0) {
      throw new BusError('conflict', `stream ${stream} is a work queue and already has consumer ${[...s.consumers.keys()][0]}`);
    }
    consumer = new MemoryConsumer(s, durable, opts);
    s.consumers.set(durable, consumer);
    return consumer;
  }
}
