import { toBinary } from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import type { Tracer } from '@opentelemetry/api';
import { GenerateRequestSchema, GenerateResponseSchema, GenerationService } from '@tokenmesh/proto';
import { clientCall, frame, grpcMethod, grpcStreamCall } from '@tokenmesh/server';

import { asWorkerFailure, type Attempt, attempt, FORWARDED, VARIANT_HEADER, WORKER_HEADER } from '../routing/attempt';
import { variantField } from './variant-field';

const GENERATE = grpcMethod(GenerationService.method.generate);

/**
 * The frame relay's attempt: one Generate call to one worker whose response messages go to the
 * caller as the worker's own gRPC frames, each with the variant's field appended, never decoded
 * or re-encoded. A CLIENT span per attempt, its context in the call's headers, as the client
 * interceptor does for Connect calls. A worker reached without a socket (in this process, or a
 * test's in-memory one) is called through its Connect client and its messages encoded here.
 */
export function frameAttempt(tracer: Tracer, maxBytes: number): Attempt<Buffer> {
  return async function* relayed(worker, req, target, ctx) {
    const session = worker.session();
    if (!session) return yield* encoded(attempt(worker, req, target, ctx));
    const { headers, end } = clientCall(tracer, GENERATE, ctx.timeoutMs(), ctx.signal);
    for (const name of FORWARDED) {
      const v = ctx.requestHeader.get(name);
      if (v) headers[name] = v;
    }
    const variant = variantField(target.variant);
    let sent = 0;
    let failure: ConnectError | undefined;
    worker.acquire();
    try {
      const body = frame(toBinary(GenerateRequestSchema, { ...req, model: target.model }));
      for await (const m of grpcStreamCall(session, { path: GENERATE.path, headers, body, signal: ctx.signal, maxBytes, peer: 'the worker' })) {
        if (sent === 0) {
          ctx.responseHeader.set(VARIANT_HEADER, target.variant);
          ctx.responseHeader.set(WORKER_HEADER, worker.id);
        }
        sent++;
        yield frame(m, variant);
      }
    } catch (err) {
      failure = asWorkerFailure(ConnectError.from(err), ctx.signal);
    } finally {
      worker.release();
      end(failure);
    }
    return { sent, failure };
  };
}

/** A decoded attempt's messages as gRPC frames. */
async function* encoded(inner: ReturnType<typeof attempt>): ReturnType<Attempt<Buffer>> {
  try {
    for (;;) {
      const r = await inner.next();
      if (r.done) return r.value;
      yield frame(toBinary(GenerateResponseSchema, r.value));
    }
  } finally {
    await inner.return({ sent: 0 });
  }
}
