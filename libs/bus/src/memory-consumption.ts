import type { BusErrorReporter, Consumption, DurableHandler } from './bus';
import { deliverDurable } from './delivery';
import type { MemoryConsumer } from './memory-consumer';

/**
 * Feeds `handler` from a durable consumer, at most `concurrency` messages at a time, until
 * stopped. Several consumptions of one consumer share its messages, as NATS pull clients do.
 */
export function startMemoryConsumption(consumer: MemoryConsumer, handler: DurableHandler, onError: BusErrorReporter, concurrency: number): Consumption {
  const running = new Set<Promise<void>>();
  let stopped = false;
  let scheduled = false;

  const pump = (): void => {
    scheduled = false;
    while (!stopped && running.size < concurrency) {
      const next = consumer.take();
      if (!next) return;
      const { msg, count } = next;
      const done: Promise<void> = deliverDurable(
        {
          stream: consumer.stream.config.name,
          durable: consumer.name,
          subject: msg.subject,
          data: new Uint8Array(msg.data),
          headers: { ...msg.headers },
          seq: msg.seq,
          ...(msg.msgId !== undefined ? { msgId: msg.msgId } : {}),
          deliveryCount: count,
          ack: () => consumer.ack(msg.seq),
          nak: (delayMs) => consumer.nak(msg.seq, delayMs),
          working: () => consumer.working(msg.seq),
        },
        handler,
        onError,
      ).finally(() => {
        running.delete(done);
        schedule();
      });
      running.add(done);
    }
  };
  // Pumping on a later turn keeps handlers off the publisher's stack and batches wake-ups.
  const schedule = (): void => {
    if (stopped || scheduled) return;
    scheduled = true;
    setImmediate(pump);
  };

  const detach = consumer.attach(schedule);
  schedule();
  return {
    stop: async () => {
      stopped = true;
      detach();
      await Promise.all([...running]);
    },
  };
}
