import {
  type Bus,
  type BusErrorReporter,
  type ConsumeOptions,
  type Consumption,
  type DurableHandler,
  type MessageHandler,
  type PublishAck,
  type PublishDurableOptions,
  type ReplayHandler,
  type ReplayOptions,
  type ReplaySummary,
  reportToStderr,
  type StreamConfig,
  type Unsubscribe,
} from './bus';
import { type ConnectionListener, ConnectionState, type ConnectionStatus } from './connection-status';
import { ConsumptionSet } from './consumption-set';
import { BusError } from './errors';
import { type Headers, normalizeHeaders } from './headers';
import { MemoryBroker } from './memory-broker';
import { startMemoryConsumption } from './memory-consumption';
import { replayMemory } from './memory-replay';
import { type BucketOptions, checkBucket, guardedBucket, type ObjectBucket } from './objects';
import { resolveConsumeOptions, resolveReplayOptions, resolveStreamConfig } from './options';
import { checkName, checkPattern, checkSubject } from './subject';

export interface MemoryBusOptions {
  /** Share one broker between buses to connect them; default: a private broker. */
  broker?: MemoryBroker;
  onError?: BusErrorReporter;
}

/**
 * The in-process `Bus`, for `npm start` and unit tests: a connection to a `MemoryBroker`, with
 * the NATS adapter's semantics (asynchronous delivery, wildcards, dedup, redelivery, work queues).
 */
export class MemoryBus implements Bus, ConnectionStatus {
  readonly broker: MemoryBroker;
  private readonly onError: BusErrorReporter;
  private readonly unsubscribes = new Set<() => void>();
  private readonly deliveries = new Set<Promise<void>>();
  private readonly consumptions = new ConsumptionSet();
  private closed = false;
  private readonly status = new ConnectionState();

  constructor(opts: MemoryBusOptions = {}) {
    this.broker = opts.broker ?? new MemoryBroker();
    this.onError = opts.onError ?? reportToStderr;
  }

  /** Always up until close(): the broker lives in this process. */
  get connected(): boolean {
    return this.status.connected;
  }

  onConnectionChange(listener: ConnectionListener): () => void {
    return this.status.onConnectionChange(listener);
  }

  private open(): void {
    if (this.closed) throw new BusError('closed', 'bus is closed');
  }

  publish(subject: string, data: Uint8Array, headers?: Headers): void {
    this.open();
    checkSubject(subject);
    this.broker.publish(subject, data, normalizeHeaders(headers));
  }

  async subscribe(pattern: string, handler: MessageHandler): Promise<Unsubscribe> {
    this.open();
    checkPattern(pattern);
    let active = true;
    // Delivery is asynchronous, as over a socket: a publisher never runs subscribers' code inline.
    const remove = this.broker.subscribe(pattern, (subject, data, headers) => {
      const delivery = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => (active ? handler({ subject, data, headers }) : undefined))
        .catch((err: unknown) => this.onError(err, { subject }))
        .finally(() => this.deliveries.delete(delivery));
      this.deliveries.add(delivery);
    });
    const unsubscribe = (): void => {
      active = false;
      remove();
      this.unsubscribes.delete(unsubscribe);
    };
    this.unsubscribes.add(unsubscribe);
    return unsubscribe;
  }

  async ensureStream(config: StreamConfig): Promise<void> {
    this.open();
    this.broker.ensureStream(resolveStreamConfig(config));
  }

  async publishDurable(subject: string, data: Uint8Array, opts: PublishDurableOptions = {}): Promise<PublishAck> {
    this.open();
    checkSubject(subject);
    const headers = normalizeHeaders(opts.headers);
    return this.broker.streamFor(subject).append(subject, new Uint8Array(data), headers, opts.msgId);
  }

  async consume(stream: string, durable: string, handler: DurableHandler, opts?: ConsumeOptions): Promise<Consumption> {
    this.open();
    checkName(durable, 'durable consumer');
    const resolved = resolveConsumeOptions(opts);
    const consumer = this.broker.consumer(stream, durable, resolved);
    const consumption = startMemoryConsumption(consumer, handler, this.onError, resolved.concurrency);
    return this.consumptions.track(consumption);
  }

  async replay(stream: string, handler: ReplayHandler, opts?: ReplayOptions): Promise<ReplaySummary> {
    this.open();
    checkName(stream, 'stream');
    const o = resolveReplayOptions(opts);
    return replayMemory(this.broker.stream(stream), handler, o, () => this.closed);
  }

  async consumerLag(stream: string, durable: string): Promise<number> {
    this.open();
    return this.broker.existingConsumer(stream, durable)?.lag ?? 0;
  }

  async countMessages(stream: string, pattern: string): Promise<number> {
    this.open();
    checkName(stream, 'stream');
    checkPattern(pattern);
    return this.broker.stream(stream).count(pattern);
  }

  async objectBucket(name: string, opts: BucketOptions = {}): Promise<ObjectBucket> {
    this.open();
    checkBucket(name);
    return guardedBucket(this.broker.bucket(name, opts), () => this.open());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.status.set(false);
    await this.consumptions.stopAll();
    // Like a NATS drain: no new messages, but those already on their way are handled.
    for (const stop of [...this.unsubscribes]) stop();
    await Promise.all([...this.deliveries]);
  }
}
