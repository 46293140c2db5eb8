import { Code, ConnectError } from '@connectrpc/connect';

/** GATEWAY_REQUEST_TIMEOUT_MS when unset: long enough for a full-context generation on a CPU. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

/** The error a request gets when the gateway's own timeout ends it: DEADLINE_EXCEEDED (REST 504 `timeout`). */
export function timeoutError(timeoutMs: number): ConnectError {
  return new ConnectError(`the request took longer than the gateway's timeout of ${timeoutMs} ms and was cancelled`, Code.DeadlineExceeded);
}

/**
 * One request's time limit, joined with the caller's own cancellation (a closed socket, a
 * cancelled call, a shorter gRPC/Connect deadline: whichever comes first wins). Its `signal` is
 * what every upstream call of the request is given, so a timeout cancels the whole chain and
 * frees the worker's slot.
 */
export interface Deadline {
  /** Aborts when the caller goes away (the parent's reason) or the time is up (`timeoutError`). */
  readonly signal: AbortSignal;
  /** True once the gateway's timeout (not the caller) ended the request. */
  readonly timedOut: boolean;
  readonly timeoutMs: number;
  /** Stops the timer (the request finished or the caller left); idempotent. */
  dispose(): void;
}

/**
 * Starts a deadline of `timeoutMs` (0 = none) under `parent`. `onTimeout` runs once when the
 * gateway's timeout fires, after the signal has aborted (e.g. to answer 504 on REST).
 */
export function startDeadline(timeoutMs: number, parent?: AbortSignal, onTimeout?: (err: ConnectError) => void): Deadline {
  const abort = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  // Stopping the timer leaves the link to the parent: a caller that goes away after the handler
  // finished is harmless, and one that goes away while it still runs must still cancel it.
  const dispose = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const onParent = () => {
    dispose();
    abort.abort(parent!.reason);
  };
  if (parent?.aborted) abort.abort(parent.reason);
  else {
    parent?.addEventListener('abort', onParent, { once: true });
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        dispose();
        timedOut = true;
        const err = timeoutError(timeoutMs);
        abort.abort(err);
        onTimeout?.(err);
      }, timeoutMs);
      // A pending deadline never keeps a stopping process alive.
      timer.unref();
    }
  }
  return {
    signal: abort.signal,
    get timedOut() {
      return timedOut;
    },
    timeoutMs,
    dispose,
  };
}

/**
 * Runs `events` under `deadline`: once the gateway's timeout has fired, whatever the stream then
 * throws (upstream calls report a cancellation) becomes the DEADLINE_EXCEEDED error callers
 * should see. Disposes the deadline when the stream ends.
 */
export async function* underDeadline<T>(events: AsyncIterable<T>, deadline: Deadline): AsyncGenerator<T> {
  try {
    for await (const e of events) {
      if (deadline.timedOut) throw timeoutError(deadline.timeoutMs);
      yield e;
    }
    if (deadline.timedOut) throw timeoutError(deadline.timeoutMs);
  } catch (err) {
    throw deadline.timedOut ? timeoutError(deadline.timeoutMs) : err;
  } finally {
    deadline.dispose();
  }
}
