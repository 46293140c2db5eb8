import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import type { GenerateRequest, GenerateResponse } from '@tokenmesh/proto';

import type { Worker } from '../pool';
import type { VariantTarget } from '../traffic';

/** Response header naming the traffic-split variant (also in GenerateResponse.variant). */
export const VARIANT_HEADER = 'x-tokenmesh-variant';
/** Response header naming the worker that served the call. */
export const WORKER_HEADER = 'x-tokenmesh-worker';

/** What an attempt needs of the call it serves: Connect's HandlerContext, or the frame relay's. */
export type CallContext = Pick<HandlerContext, 'signal' | 'timeoutMs' | 'requestHeader' | 'responseHeader'>;

/** One call to one worker whose messages (`T`: decoded, or gRPC frames) go to the caller. */
export type Attempt<T> = (worker: Worker, req: GenerateRequest, target: VariantTarget, ctx: CallContext) => AsyncGenerator<T, AttemptResult>;

/** How an attempt ended: `failure` undefined means the worker's stream completed. */
export interface AttemptResult {
  /** Messages relayed to the caller before the end. */
  readonly sent: number;
  readonly failure?: ConnectError;
}

/**
 * The attempt step: one call to one worker, its messages relayed to the caller tagged with the
 * variant. Failures are returned, not thrown, so the retry step decides what the caller sees; the
 * caller's signal and deadline go upstream, so a cancel reaches the worker.
 */
export async function* attempt(worker: Worker, req: GenerateRequest, target: VariantTarget, ctx: CallContext): AsyncGenerator<GenerateResponse, AttemptResult> {
  let sent = 0;
  let failure: ConnectError | undefined;
  worker.acquire();
  try {
    const stream = worker.client.generate(
      { ...req, model: target.model },
      { signal: ctx.signal, timeoutMs: ctx.timeoutMs(), headers: forwardedHeaders(ctx.requestHeader) },
    );
    for await (const m of stream) {
      if (sent === 0) {
        ctx.responseHeader.set(VARIANT_HEADER, target.variant);
        ctx.responseHeader.set(WORKER_HEADER, worker.id);
      }
      sent++;
      m.variant = target.variant;
      yield m;
    }
  } catch (err) {
    failure = asWorkerFailure(ConnectError.from(err), ctx.signal);
  } finally {
    worker.release();
  }
  return { sent, failure };
}

/**
 * The HTTP/2 client reports a reset stream or a connection closed under it (a worker killed
 * mid-stream) as CANCELED. Unless the caller left, that is the worker failing: UNAVAILABLE, as
 * the caller is told, so metrics and retries see what happened.
 */
export function asWorkerFailure(failure: ConnectError, signal: AbortSignal): ConnectError {
  if (failure.code !== Code.Canceled || signal.aborted) return failure;
  return new ConnectError(failure.rawMessage, Code.Unavailable, failure.metadata, undefined, failure);
}

// Trace context is re-injected by the client interceptor; request ids and keys travel in fields.
export const FORWARDED = ['x-request-id'];

export function forwardedHeaders(h: Headers): Headers {
  const out = new Headers();
  for (const name of FORWARDED) {
    const v = h.get(name);
    if (v) out.set(name, v);
  }
  return out;
}
