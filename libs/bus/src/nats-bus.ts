import { connect, Events, type JetStreamClient, type JetStreamManager, type NatsConnection, NatsError } from 'nats';

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
import { ensureNatsConsumer, ensureNatsStream } from './nats-admin';
import { fromNatsHeaders, mapNatsError, toNatsHeaders } from './nats-codec';
import { startNatsConsumption } from './nats-consumption';
import { natsObjectBucket } from './nats-objects';
import { replayNats } from './nats-replay';
import { type BucketOptions, checkBucket, guardedBucket, type ObjectBucket } from './objects';
import { resolveConsumeOptions, resolveReplayOptions, resolveStreamConfig } from './options';
import { checkName, checkPattern, checkSubject } from './subject';

export interface NatsBusOptions {
  /** Connection name shown by the server (e.g. the service name). */
  name?: string;
  /** Give up connecting after this long; default 5000. Later disconnects reconnect forever. */
  connectTimeoutMs?: number;
  /** `close()` waits this long for the drain before closing outright; default 5000. */
  drainTimeoutMs?: number;
  /**
   * Pause between reconnect attempts; default 500 (nats.js: 2000). Short, because NATS restarts
   * in the mesh are quick, and because nats.js cannot cancel a pending pause: a bus closed while
   * the server is down keeps its process alive until the pause ends.
   */
  reconnectWaitMs?: number;
  onError?: BusErrorReporter;
}

/**
 * The `Bus` over nats-server: core NATS for pub/sub, JetStream for durable streams. While the
 * server is unreachable it reconnects forever and `connected` is false.
 */
export class NatsBus implements Bus, ConnectionStatus {
  private readonly deliveries = new Set<Promise<void>>();
  private readonly consumptions = new ConsumptionSet();
  private readonly replays = new Set<() => void>();
  private jsm?: Promise<JetStreamManager>;
  private readonly js: JetStreamClient;
  private closing?: Promise<void>;
  private readonly status = new ConnectionState();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly onError: BusErrorReporter,
    private readonly drainTimeoutMs: number,
  ) {
    this.js = nc.jetstream();
    void this.watchStatus();
  }

  private async watchStatus(): Promise<void> {
    void this.nc.closed().then(() => this.status.set(false));
    for await (const s of this.nc.status()) {
      if (s.type === Events.Disconnect) this.status.set(false);
      else if (s.type === Events.Reconnect) this.status.set(true);
    }
  }

  get connected(): boolean {
    return this.status.connected && !this.nc.isClosed();
  }

  onConnectionChange(listener: ConnectionListener): () => void {
    return this.status.onConnectionChange(listener);
  }

  /** @throws Error naming `url` when the server cannot be reached. */
  static async connect(url: string, opts: NatsBusOptions = {}): Promise<NatsBus> {
    try {
      const nc = await connect({
        servers: url,
        name: opts.name ?? 'tokenmesh',
        timeout: opts.connectTimeoutMs ?? 5000,
        maxReconnectAttempts: -1,
        reconnectTimeWait: opts.reconnectWaitMs ?? 500,
      });
      return new NatsBus(nc, opts.onError ?? reportToStderr, opts.drainTimeoutMs ?? 5000);
    } catch (err) {
      throw new Error(`cannot connect to NATS at ${url}: ${(err as Error).message}`, { cause: err });
    }
  }

  private open(): void {
    if (this.closing || this.nc.isClosed()) throw new BusError('closed', 'bus is closed');
  }

  // Created on first use, so a core-only bus works against a server without JetStream.
  private manager(): Promise<JetStreamManager> {
    this.jsm ??= this.nc.jetstreamManager().catch((err: unknown) => {
      this.jsm = undefined; // let a later call try again
      throw new Error(`JetStream is not available on this NATS server (nats-server -js): ${(err as Error).message}`, { cause: err });
    });
    return this.jsm;
  }

  publish(subject: string, data: Uint8Array, headers?: Headers): void {
    this.open();
    checkSubject(subject);
    const h = toNatsHeaders(normalizeHeaders(headers));
    this.nc.publish(subject, data, h ? { headers: h } : {});
  }

  async subscribe(pattern: string, handler: MessageHandler): Promise<Unsubscribe> {
    this.open();
    checkPattern(pattern);
    const sub = this.nc.subscribe(pattern, {
      callback: (err, m) => {
        if (err) return this.onError(err, { subject: pattern });
        const { headers } = fromNatsHeaders(m.headers);
        const delivery = Promise.resolve()
          .then(() => handler({ subject: m.subject, data: m.data, headers }))
          .catch((e: unknown) => this.onError(e, { subject: m.subject }))
          .finally(() => this.deliveries.delete(delivery));
        this.deliveries.add(delivery);
      },
    });
    // The server has the subscription once it answers a PING sent after it.
    await this.nc.flush();
    return () => {
      // Idempotent, and harmless after close(), like the in-memory adapter's.
      if (!sub.isClosed() && !this.nc.isClosed()) sub.unsubscribe();
    };
  }

  async ensureStream(config: StreamConfig): Promise<void> {
    this.open();
    const resolved = resolveStreamConfig(config);
    await ensureNatsStream(await this.manager(), resolved);
  }

  async publishDurable(subject: string, data: Uint8Array, opts: PublishDurableOptions = {}): Promise<PublishAck> {
    this.open();
    checkSubject(subject);
    const headers = toNatsHeaders(normalizeHeaders(opts.headers));
    try {
      const ack = await this.js.publish(subject, data, {
        ...(opts.msgId !== undefined ? { msgID: opts.msgId } : {}),
        ...(headers ? { headers } : {}),
      });
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw mapNatsError(err, `publishDurable ${subject}`);
    }
  }

  async consume(stream: string, durable: string, handler: DurableHandler, opts?: ConsumeOptions): Promise<Consumption> {
    this.open();
    checkName(stream, 'stream');
    checkName(durable, 'durable consumer');
    const o = resolveConsumeOptions(opts);
    try {
      await ensureNatsConsumer(await this.manager(), stream, durable, o);
      const consumer = await this.js.consumers.get(stream, durable);
      const consumption = await startNatsConsumption(consumer, stream, durable, handler, this.onError, o.concurrency);
      return this.consumptions.track(consumption);
    } catch (err) {
      throw mapNatsError(err, `consume ${stream}/${durable}`);
    }
  }

  async replay(stream: string, handler: ReplayHandler, opts?: ReplayOptions): Promise<ReplaySummary> {
    this.open();
    checkName(stream, 'stream');
    const o = resolveReplayOptions(opts);
    return replayNats(this.js, await this.manager(), stream, handler, o, (stop) => {
      this.replays.add(stop);
      return () => this.replays.delete(stop);
    });
  }

  async consumerLag(stream: string, durable: string): Promise<number> {
    this.open();
    checkName(stream, 'stream');
    checkName(durable, 'durable consumer');
    try {
      const info = await (await this.manager()).consumers.info(stream, durable);
      return info.num_pending + info.num_ack_pending;
    } catch (err) {
      const mapped = mapNatsError(err, `consumer lag ${stream}/${durable}`);
      // JetStream's "consumer not found" (10014): nothing consumed yet, so nothing is behind.
      if (err instanceof NatsError && err.api_error?.err_code === 10014) return 0;
      throw mapped;
    }
  }

  async countMessages(stream: string, pattern: string): Promise<number> {
    this.open();
    checkName(stream, 'stream');
    checkPattern(pattern);
    try {
      // The server counts per subject for a filter (stream info's subjects_filter); no message is read.
      const info = await (await this.manager()).streams.info(stream, { subjects_filter: pattern });
      return Object.values(info.state.subjects ?? {}).reduce((n, c) => n + c, 0);
    } catch (err) {
      throw mapNatsError(err, `count ${stream} ${pattern}`);
    }
  }

  async objectBucket(name: string, opts: BucketOptions = {}): Promise<ObjectBucket> {
    this.open();
    checkBucket(name);
    await this.manager();
    return guardedBucket(await natsObjectBucket(this.js, name, opts), () => this.open());
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      for (const stop of [...this.replays]) stop();
      await this.consumptions.stopAll();
      // A drain needs the server; while it is unreachable, give up after a bound and just close.
      if (!this.nc.isClosed()) {
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise<void>((r) => (timer = setTimeout(r, this.drainTimeoutMs)));
        await Promise.race([this.nc.drain().catch(() => undefined), bound]);
        clearTimeout(timer);
        if (!this.nc.isClosed()) await this.nc.close();
      }
      await Promise.all([...this.deliveries]);
      this.status.set(false);
    })();
    return this.closing;
  }
}
