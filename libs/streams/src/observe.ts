/** What `observe` reports about a stream. */
export interface StreamObserver<T, U> {
  /** Maps each value on its way (default: unchanged). */
  readonly value?: (v: T) => U;
  /**
   * Called once: `undefined` when the stream completed, the error when it failed, and
   * `'abandoned'` when its reader stopped early (return()).
   */
  readonly end?: (outcome: unknown) => void;
}

/** The outcome `end` gets when the reader stopped before the stream ended. */
export const ABANDONED = 'abandoned';

/**
 * `source` passed through as a hand-written iterator, one `then` per message: an async
 * generator would cost several promises per message and layer, which adds up on streams that
 * cross many layers (interceptors, transports) for every token.
 */
export function observe<T, U = T>(source: AsyncIterable<T>, o: StreamObserver<T, U>): AsyncIterable<U> {
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      let ended = false;
      const end = (outcome: unknown) => {
        if (ended) return;
        ended = true;
        o.end?.(outcome);
      };
      const map = o.value;
      return {
        next: () =>
          it.next().then(
            (r) => {
              if (r.done) {
                end(undefined);
                return r as IteratorResult<U>;
              }
              return map ? { done: false, value: map(r.value) } : (r as unknown as IteratorResult<U>);
            },
            (err: unknown) => {
              end(err);
              throw err;
            },
          ),
        async return(value?: unknown): Promise<IteratorResult<U>> {
          end(ABANDONED);
          await it.return?.(value);
          return { done: true, value: undefined };
        },
      };
    },
  };
}
