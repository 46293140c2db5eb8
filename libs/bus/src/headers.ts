import { BusError } from './errors';

/**
 * Message headers: string names to one string value each. Names are kept as given (no case
 * folding), so W3C `traceparent`/`tracestate` round-trip as written.
 */
export type Headers = Record<string, string>;

/** Names starting with this (any case) belong to the NATS protocol: JetStream acts on them. */
const RESERVED_PREFIX = 'nats-';

/**
 * Validates `headers` against what NATS can carry and returns the copy both adapters deliver:
 * names of printable ASCII without `:`, values without CR/LF and trimmed (NATS trims them).
 * @throws BusError(`invalid`) naming the offending header.
 */
export function normalizeHeaders(headers: Headers | undefined): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name === '' || !/^[\x21-\x39\x3b-\x7e]+$/.test(name)) {
      throw new BusError('invalid', `invalid header name ${JSON.stringify(name)}`);
    }
    if (name.toLowerCase().startsWith(RESERVED_PREFIX)) {
      throw new BusError('invalid', `header ${name} is reserved (Nats-* headers drive the server; use msgId for dedup)`);
    }
    if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      throw new BusError('invalid', `invalid value for header ${name}: must be a string without CR or LF`);
    }
    out[name] = value.trim();
  }
  return out;
}

/** Whether a received header is protocol metadata rather than the publisher's. */
export function isReservedHeader(name: string): boolean {
  return name.toLowerCase().startsWith(RESERVED_PREFIX);
}
