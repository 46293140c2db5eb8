import type { Consumer, JsMsg } from 'nats';

import type { BusErrorReporter, Consumption, DurableHandler } from './bus';
import { deliverDurable, type RawDelivery } from './delivery';
import { fromNatsHeaders } from './nats-codec';

// Settling after the connection closed cannot reach the server; the message is redelivered anyway.
function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    /* connection closed */
  }
}

function toRaw(m: JsMsg, stream: string, durable: string): RawDelivery {
  const { headers, msgId } = fromNatsHeaders(m.headers);
  return {
    stream,
    durable,
    subject: m.subject,
    data: m.data,
    headers,
    seq: m.seq,
    ...(msgId !== undefined ? { msgId } : {}),
    deliveryCount: m.info.deliveryCount,
    ack: () => quietly(() => m.ack()),
    nak: (delayMs) => quietly(() => m.nak(delayMs)),
    working: () => quietly(() => m.working()),
  };
}

/**
 * Feeds `handler` from a JetStream pull consumer, at most `concurrency` messages at a time.
 * The client pulls `concurrency` messages per request, so few messages wait in its buffer while
 * their ack wait runs; any still there at `stop()` are nak'd so another reader gets them at once.
 */
export async function startNatsConsumption(
  consumer: Consumer,
  stream: string,
  durable: string,
  handler: DurableHandler,
  onError: BusErrorReporter,
  concurrency: number,
): Promise<Consumption> {
  const messages = await consumer.consume({ max_messages: concurrency });
  const running = new Set<Promise<void>>();
  let freed: (() => void) | undefined;
  let stopped = false;

  const loop = (async () => {
    try {
      for await (const m of messages) {
        while (running.size >= concurrency && !stopped) await new Promise<void>((r) => (freed = r));
        if (stopped) {
          quietly(() => m.nak());
          continue;
        }
        const done: Promise<void> = deliverDurable(toRaw(m, stream, durable), handler, onError).finally(() => {
          running.delete(done);
          freed?.();
        });
        running.add(done);
      }
    } catch (err) {
      onError(err, { subject: '', stream, durable });
    }
  })();

  let stopping: Promise<void> | undefined;
  return {
    stop: () =>
      (stopping ??= (async () => {
        stopped = true;
        freed?.();
        messages.stop();
        await Promise.all([loop, ...running]);
      })()),
  };
}
