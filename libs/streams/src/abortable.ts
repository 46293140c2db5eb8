/**
 * `source`, whose pending read rejects as soon as `signal` aborts, even if the source never
 * answers (a handler that ignores its own cancellation). One abort listener per stream, not per
 * message; once aborted, the source is told to stop (return()). `toError` turns what a read
 * fails with (the signal's reason once aborted, else the source's error) into what the reader
 * gets; by default the signal's reason once aborted (whatever a cancelled source throws, an
 * AbortError, is the cancellation), else the source's error.
 */
export function abortable<T>(
  source: AsyncIterable<T>,
  signal: AbortSignal,
  toError: (err: unknown, aborted: boolean) => unknown = (err, aborted) => (aborted ? signal.reason : err),
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      let reject: ((e: unknown) => void) | undefined;
      let finished = false;
      const onAbort = () => {
        reject?.(toError(signal.reason, true));
        reject = undefined;
        void it.return?.().catch(() => undefined);
      };
      const stop = () => {
        finished = true;
        signal.removeEventListener('abort', onAbort);
      };
      if (signal.aborted) finished = true;
      else signal.addEventListener('abort', onAbort, { once: true });
      return {
        next(): Promise<IteratorResult<T>> {
          if (signal.aborted) {
            stop();
            return Promise.reject(toError(signal.reason, true));
          }
          if (finished) return Promise.resolve({ done: true, value: undefined });
          return new Promise<IteratorResult<T>>((resolve, fail) => {
            reject = fail;
            it.next().then(
              (r) => {
                reject = undefined;
                if (r.done) stop();
                resolve(r);
              },
              (err: unknown) => {
                reject = undefined;
                stop();
                fail(toError(signal.aborted ? signal.reason : err, signal.aborted));
              },
            );
          });
        },
        async return(value?: unknown): Promise<IteratorResult<T>> {
          if (!finished) {
            stop();
            await it.return?.(value);
          }
          return { done: true, value: undefined };
        },
      };
    },
  };
}
