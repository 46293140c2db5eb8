import { Code, ConnectError } from '@connectrpc/connect';

/**
 * Splits a gRPC body (messages in 5-byte envelopes: a flags byte, a big-endian length) into the
 * messages' bytes, across whatever chunks HTTP/2 delivers. Its users ask for (or take only)
 * uncompressed messages, so a compressed one is a protocol error.
 */
export class FrameReader {
  private rest: Buffer | undefined;

  constructor(private readonly maxBytes: number) {}

  /** The messages completed by `chunk`. @throws ConnectError for a compressed or oversized message */
  push(chunk: Buffer): Buffer[] {
    const b = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    const out: Buffer[] = [];
    let at = 0;
    while (b.length - at >= 5) {
      if (b[at]! & 1) throw new ConnectError('protocol error: a compressed message, though identity was asked for', Code.Internal);
      const length = b.readUInt32BE(at + 1);
      if (length > this.maxBytes) throw new ConnectError(`message size ${length} is larger than the limit of ${this.maxBytes} bytes`, Code.ResourceExhausted);
      if (b.length - at - 5 < length) break;
      out.push(b.subarray(at + 5, at + 5 + length));
      at += 5 + length;
    }
    this.rest = at < b.length ? b.subarray(at) : undefined;
    return out;
  }

  /** Bytes of an incomplete message still held: at the end of a body, a truncated message. */
  get pending(): number {
    return this.rest?.length ?? 0;
  }
}

/** `message` in its envelope, with `suffix` (more fields) appended to it. */
export function frame(message: Uint8Array, suffix?: Uint8Array): Buffer {
  const extra = suffix?.length ?? 0;
  const out = Buffer.allocUnsafe(5 + message.length + extra);
  out[0] = 0;
  out.writeUInt32BE(message.length + extra, 1);
  out.set(message, 5);
  if (suffix) out.set(suffix, 5 + message.length);
  return out;
}
