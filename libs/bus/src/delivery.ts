import type { BusErrorReporter, DurableHandler, DurableMessage } from './bus';
import type { Headers } from './headers';

/** What an adapter knows about one delivery, with its raw settle operations. */
export interface RawDelivery {
  stream: string;
  durable: string;
  subject: string;
  data: Uint8Array;
  headers: Headers;
  seq: number;
  msgId?: string;
  deliveryCount: number;
  ack(): void;
  nak(delayMs?: number): void;
  working(): void;
}

/**
 * Runs `handler` on one delivery with the rules both adapters share: only the first ack/nak
 * counts, and a handler that throws before settling gets its message nak'd (redelivered now)
 * after the error is reported.
 */
export async function deliverDurable(raw: RawDelivery, handler: DurableHandler, onError: BusErrorReporter): Promise<void> {
  let settled = false;
  const msg: DurableMessage = {
    stream: raw.stream,
    subject: raw.subject,
    data: raw.data,
    headers: raw.headers,
    seq: raw.seq,
    deliveryCount: raw.deliveryCount,
    redelivered: raw.deliveryCount > 1,
    ack: () => {
      if (settled) return;
      settled = true;
      raw.ack();
    },
    nak: (delayMs?: number) => {
      if (settled) return;
      settled = true;
      raw.nak(delayMs);
    },
    working: () => {
      if (!settled) raw.working();
    },
  };
  if (raw.msgId !== undefined) msg.msgId = raw.msgId;
  try {
    await handler(msg);
  } catch (err) {
    onError(err, { subject: raw.subject, stream: raw.stream, durable: raw.durable });
    msg.nak();
  }
}
