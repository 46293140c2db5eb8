import type { Interceptor } from '@connectrpc/connect';
import { abortable } from '@tokenmesh/streams';

/** `p`, or a rejection with the abort reason as soon as `signal` aborts, whichever comes first. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Server interceptor that ends calls with the shutdown reason (UNAVAILABLE: "retry on another
 * replica") as soon as `signal`, the server's shutdown signal, aborts:
 * - a handler cancelled at shutdown typically rethrows whatever its await threw (an AbortError
 *   from a timer or fetch), which Connect would send as INTERNAL;
 * - a handler that ignores its signal would otherwise keep the stream, and so the server, open
 *   until its connection is cut, and its client would see a bare HTTP/2 CANCEL.
 * Installed innermost, so tracing and metrics interceptors record the status clients get.
 */
export function shutdownErrorInterceptor(signal: AbortSignal): Interceptor {
  const rethrow = (err: unknown): never => {
    throw signal.aborted ? signal.reason : err;
  };
  return (next) => async (req) => {
    const res = await raceAbort(next(req), signal).catch(rethrow);
    if (!res.stream) return res;
    // A read pending at shutdown ends with the shutdown reason, even if the handler never answers.
    return { ...res, message: abortable(res.message, signal) };
  };
}
