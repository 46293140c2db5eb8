import { ConnectError, type Interceptor, type StreamResponse } from '@connectrpc/connect';

/** Lone UTF-16 surrogates: half of a character, which no header or JSON can carry. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` with every lone surrogate replaced by U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

/** The error with a well-formed message (the same error when it already has one). */
function withWellFormedMessage(err: unknown): unknown {
  const e = err instanceof ConnectError ? err : err instanceof Error ? ConnectError.from(err) : undefined;
  if (!e) return err;
  const message = wellFormed(e.rawMessage);
  if (message === e.rawMessage) return err;
  const out = new ConnectError(message, e.code, e.metadata, undefined, e.cause);
  out.details.push(...e.details);
  return out;
}

/**
 * `messages` with a well-formed error if it throws. A thin iterator, not an async generator: it
 * wraps every streamed message of every service, and a generator's yield* costs several times
 * one promise per message.
 */
function wellFormedStream<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      const sanitized = (err: unknown): never => {
        throw withWellFormedMessage(err);
      };
      return {
        next: () => it.next().then(undefined, sanitized),
        return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true, value: value as T })),
        throw: (err?: unknown) => (it.throw ? it.throw(err).then(undefined, sanitized) : Promise.reject(withWellFormedMessage(err))),
      };
    },
  };
}

/**
 * Server interceptor, outermost: error messages carry no lone surrogate. A message may quote a
 * caller's text cut in the middle of a character (V8's JSON.parse errors do), and connect-node
 * writes grpc-message with encodeURIComponent, which throws on one: the call then never ends.
 */
export const wellFormedErrorInterceptor: Interceptor = (next) => async (req) => {
  let res;
  try {
    res = await next(req);
  } catch (err) {
    throw withWellFormedMessage(err);
  }
  if (!res.stream) return res;
  return { ...res, message: wellFormedStream(res.message) } as StreamResponse;
};
