import { headers as natsHeaders, type MsgHdrs, NatsError } from 'nats';

import { BusError } from './errors';
import { type Headers, isReservedHeader } from './headers';

/** NATS headers from validated ones; undefined when there are none (saves the header block). */
export function toNatsHeaders(h: Headers): MsgHdrs | undefined {
  const names = Object.keys(h);
  if (names.length === 0) return undefined;
  const out = natsHeaders();
  for (const name of names) out.set(name, h[name]!);
  return out;
}

/** The publisher's headers (first value of each) and the `Nats-Msg-Id`, if any. */
export function fromNatsHeaders(h: MsgHdrs | undefined): { headers: Headers; msgId?: string } {
  const headers: Headers = {};
  let msgId: string | undefined;
  for (const name of h?.keys() ?? []) {
    if (name.toLowerCase() === 'nats-msg-id') msgId = h!.get(name);
    else if (!isReservedHeader(name)) headers[name] = h!.get(name);
  }
  return msgId === undefined ? { headers } : { headers, msgId };
}

/** JetStream API error codes (`err_code`) the bus turns into `BusError` codes. */
const API_ERRORS: Record<number, BusError['code']> = {
  10059: 'stream-not-found',
  10065: 'conflict', // subjects overlap with an existing stream
  10099: 'conflict', // multiple non-filtered consumers not allowed on workqueue stream
};

/** Maps a nats.js error to a `BusError` where the bus defines a code; otherwise returns it as is. */
export function mapNatsError(err: unknown, context: string): unknown {
  if (!(err instanceof NatsError)) return err;
  const apiCode = err.api_error?.err_code;
  const code = apiCode !== undefined ? API_ERRORS[apiCode] : undefined;
  if (code) return new BusError(code, `${context}: ${err.api_error?.description ?? err.message}`, { cause: err });
  if (err.code === '503') return new BusError('no-stream', `${context}: no stream holds the subject`, { cause: err });
  if (err.code === 'CONNECTION_CLOSED') return new BusError('closed', `${context}: bus is closed`, { cause: err });
  return err;
}
