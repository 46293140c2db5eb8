import { AckPolicy, DeliverPolicy, type JetStreamManager, nanos, RetentionPolicy, StorageType } from 'nats';

import type { StreamConfig } from './bus';
import { BusError } from './errors';
import { mapNatsError } from './nats-codec';
import type { ResolvedConsumeOptions } from './options';

/** Creates the JetStream stream, or updates its subjects and dedup window; errors as `BusError`s. */
export async function ensureNatsStream(jsm: JetStreamManager, config: Required<StreamConfig>): Promise<void> {
  const what = `ensureStream ${config.name}`;
  const retention = config.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits;
  const duplicate_window = nanos(config.duplicateWindowMs);
  const existing = await jsm.streams.info(config.name).catch((err: unknown) => {
    const mapped = mapNatsError(err, what);
    if (mapped instanceof BusError && mapped.code === 'stream-not-found') return undefined;
    throw mapped;
  });
  // The server refuses a retention change too, but with a generic "invalid config" error.
  if (existing && existing.config.retention !== retention) {
    throw new BusError('conflict', `stream ${config.name} exists with retention ${existing.config.retention}; cannot change it to ${config.retention}`);
  }
  try {
    if (existing) await jsm.streams.update(config.name, { ...existing.config, subjects: config.subjects, duplicate_window });
    else await jsm.streams.add({ name: config.name, subjects: config.subjects, retention, duplicate_window, storage: StorageType.File });
  } catch (err) {
    throw mapNatsError(err, what);
  }
}

/**
 * Creates durable pull consumer `durable` on `stream` (explicit acks, from the stream's first
 * message), or updates its ack wait and max deliveries: server 2.9 treats a create with changed
 * options as an update.
 */
export async function ensureNatsConsumer(jsm: JetStreamManager, stream: string, durable: string, o: ResolvedConsumeOptions): Promise<void> {
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(o.ackWaitMs),
    max_deliver: o.maxDeliver,
  });
}
