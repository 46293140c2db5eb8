import { Code, ConnectError } from '@connectrpc/connect';

const REST = Symbol('tokenmesh.rest');

/** How REST callers see a rejected request: the field (`param`) and a message that names it. */
export interface RestError {
  readonly param: string | null;
  readonly message: string;
}

type WithRest = ConnectError & { [REST]?: RestError };

/**
 * A rejected request as a ConnectError (its code for gRPC/Connect callers; the message starts
 * with the field's proto path) that also carries the REST field name for OpenAI-style error
 * bodies. Not a subclass: ConnectError's `instanceof` only recognises ConnectError itself, and
 * Connect servers turn anything else into INTERNAL.
 */
export function apiError(code: Code, param: string | null, detail: string, grpcField: string | null = param): ConnectError {
  const e: WithRest = new ConnectError(grpcField ? `${grpcField}: ${detail}` : detail, code);
  e[REST] = { param, message: param ? `${param}: ${detail}` : detail };
  return e;
}

/**
 * An overload refusal (429 / RESOURCE_EXHAUSTED, Retry-After in seconds) made without a stack
 * trace: it is an answer, not a fault, and in a burst past capacity capturing the stack was the
 * largest single cost of refusing a request at the edge.
 */
export function overloaded(detail: string, retryAfterS: number): ConnectError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const err = apiError(Code.ResourceExhausted, null, detail);
    err.metadata.set('retry-after', String(retryAfterS));
    return err;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The REST view of any error (a field-less message for errors that carry none). */
export function restError(err: ConnectError): RestError {
  return (err as WithRest)[REST] ?? { param: null, message: err.rawMessage };
}

/**
 * Our services start error messages with the field path ("messages[0].role: …"); this keeps the
 * code and records that field for REST callers.
 */
export function fromUpstream(err: unknown): ConnectError {
  const e = ConnectError.from(err);
  if ((e as WithRest)[REST] || (e.code !== Code.InvalidArgument && e.code !== Code.NotFound)) return e;
  const m = /^([\w.[\]]+(?:, [\w.[\]]+)*): (.*)$/s.exec(e.rawMessage);
  return m ? apiError(e.code, m[1]!, m[2]!) : apiError(e.code, null, e.rawMessage);
}
