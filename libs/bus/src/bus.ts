import type { Headers } from './headers';
import type { BucketOptions, ObjectBucket } from './objects';

/** A core (fire-and-forget) message as a subscriber sees it. */
export interface BusMessage {
  subject: string;
  data: Uint8Array;
  /** The publisher's headers (never `Nats-*` protocol headers); `{}` when none. */
  headers: Headers;
}

/** Handles a core message. A throw or rejection goes to the bus's `onError`, nowhere else. */
export type MessageHandler = (msg: BusMessage) => void | Promise<void>;

/** Stops a subscription; messages not yet handed to the handler are dropped. */
export type Unsubscribe = () => void;

/** A durable stream; `ensureStream` creates it or updates its subjects and dedup window. */
export interface StreamConfig {
  /** e.g. `TOKENMESH_EVENTS`: no dots, spaces or wildcards. */
  name: string;
  /** Subject patterns the stream stores, e.g. `['tokenmesh.events.>']`; must not overlap another stream's. */
  subjects: string[];
  /** `limits`: messages stay after acks (each durable consumer sees all); `workqueue`: an ack removes the message. */
  retention: 'limits' | 'workqueue';
  /** How long a `msgId` is remembered for dedup; default 120 000 (the NATS default). */
  duplicateWindowMs?: number;
}

export interface PublishDurableOptions {
  /** Publishing the same id again within the stream's dedup window stores nothing. */
  msgId?: string;
  headers?: Headers;
}

/** The stream's answer to a durable publish. */
export interface PublishAck {
  stream: string;
  /** Stream sequence of the stored message (of the original, for a duplicate). */
  seq: number;
  duplicate: boolean;
}

/**
 * A message delivered from a stream. At least once: settle it with `ack()`; `nak()` asks for
 * redelivery (after `delayMs`); a message left unsettled is redelivered after the ack wait, and
 * one whose handler throws is nak'd. Only the first `ack`/`nak` counts.
 */
export interface DurableMessage extends BusMessage {
  stream: string;
  seq: number;
  msgId?: string;
  /** 1 on first delivery. */
  deliveryCount: number;
  redelivered: boolean;
  ack(): void;
  nak(delayMs?: number): void;
  /** Still working on it: restarts the ack wait (for long jobs). */
  working(): void;
}

export type DurableHandler = (msg: DurableMessage) => void | Promise<void>;

export interface ConsumeOptions {
  /** Unsettled messages are redelivered after this; default 30 000 (the NATS default). */
  ackWaitMs?: number;
  /** Stop redelivering after this many deliveries; default unlimited. */
  maxDeliver?: number;
  /** Messages handed to the handler at once; default 1 (in stream order, barring redeliveries). */
  concurrency?: number;
}

/** A message read back from a stream by `replay`: nothing to settle, nothing is acked. */
export interface ReplayedMessage extends BusMessage {
  stream: string;
  seq: number;
  msgId?: string;
}

export type ReplayHandler = (msg: ReplayedMessage) => void | Promise<void>;

export interface ReplayOptions {
  /** Only messages whose subject matches one of these patterns; default every message. */
  subjects?: string[];
}

/** What a `replay` read. */
export interface ReplaySummary {
  /** Messages handed to the handler. */
  messages: number;
  /** The stream's last sequence when the replay began: the replay ended there (0: empty stream). */
  lastSeq: number;
}

/** A running `consume`. */
export interface Consumption {
  /** Stops taking messages and waits for the handlers in progress. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The message bus: core pub/sub for ephemeral traffic (heartbeats) and durable streams for
 * events and jobs. Adapters: `NatsBus` (nats-server with JetStream) and `MemoryBus`, held to one
 * contract suite (libs/bus/test/contract).
 */
export interface Bus {
  /** Fire and forget: delivered to current subscribers, if any. @throws BusError */
  publish(subject: string, data: Uint8Array, headers?: Headers): void;
  /** `pattern` may use `*` and `>`. Resolves once the subscription is live (it sees later publishes). */
  subscribe(pattern: string, handler: MessageHandler): Promise<Unsubscribe>;
  /** Creates the stream, or updates subjects and dedup window; a retention change is a `conflict`. */
  ensureStream(config: StreamConfig): Promise<void>;
  /** Stores the message in the stream holding `subject`; rejects `no-stream` when there is none. */
  publishDurable(subject: string, data: Uint8Array, opts?: PublishDurableOptions): Promise<PublishAck>;
  /**
   * Delivers the messages of `stream` not yet acked by durable consumer `durable` (created on
   * first use, starting at the stream's first message; options updated on later calls). The
   * consumer outlives the bus: a later `consume` with the same name resumes where it left off.
   */
  consume(stream: string, durable: string, handler: DurableHandler, opts?: ConsumeOptions): Promise<Consumption>;
  /**
   * Reads `stream` from its first stored message up to its last one at the time of the call,
   * handing each to `handler` in sequence order, one at a time (the handler's promise is awaited),
   * then resolves. Messages stored after the call are not read. Durable consumers are untouched
   * and nothing is acked: a replay can run alongside `consume` and be repeated. A handler that
   * throws ends the replay, which rejects with that error.
   * @throws BusError `stream-not-found`, `invalid` (a bad subject pattern), `closed`
   */
  replay(stream: string, handler: ReplayHandler, opts?: ReplayOptions): Promise<ReplaySummary>;
  /**
   * How far durable consumer `durable` is behind on `stream`: messages never delivered to it plus
   * those delivered and not acked yet (JetStream's num_pending + num_ack_pending); 0 when no such
   * consumer exists yet. For a lag gauge: it asks the server each time.
   * @throws BusError `stream-not-found`, `closed`
   */
  consumerLag(stream: string, durable: string): Promise<number>;
  /**
   * How many messages `stream` holds on subjects matching `pattern` (e.g. one batch's results).
   * @throws BusError `stream-not-found`, `invalid`, `closed`
   */
  countMessages(stream: string, pattern: string): Promise<number>;
  /**
   * The object bucket `name` (JetStream's object store, file storage), created on first use;
   * its calls fail with `closed` once the bus is closed. @throws BusError `invalid`, `closed`
   */
  objectBucket(name: string, opts?: BucketOptions): Promise<ObjectBucket>;
  /** Stops consumptions (waiting for their handlers), delivers what is pending, then disconnects. */
  close(): Promise<void>;
}

/** Reports handler failures; adapters default to one JSON line on stderr. */
export type BusErrorReporter = (err: unknown, context: { subject: string; stream?: string; durable?: string }) => void;

/** The default `onError`. */
export const reportToStderr: BusErrorReporter = (err, context) => {
  const error = err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err);
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'bus handler failed', ...context, error }) + '\n');
};
