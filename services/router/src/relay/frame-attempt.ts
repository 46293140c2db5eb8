import { toBinary } from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import { context, propagation, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { GenerateRequestSchema, GenerateResponseSchema, GenerationService } from '@tokenmesh/proto';
import { frame, grpcRequestHeaders, grpcStreamCall } from '@tokenmesh/server';
import { rpcMethodAttributes, spanEnder } from '@tokenmesh/telemetry';

import { asWorkerFailure, type Attempt, attempt, FORWARDED, VARIANT_HEADER, WORKER_HEADER } from '../routing/attempt';
import { variantField } from './variant-field';

const GENERATE_METHOD = `${GenerationService.typeName}/Generate`;
const GENERATE_PATH = `/${GENERATE_METHOD}`;

/** The attributes of a Generate span, as the Connect interceptors write them for gRPC. */
const GENERATE_SPAN_ATTRIBUTES = rpcMethodAttributes('grpc', GenerationService.typeName, GenerationService.method.generate.name);

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
    const parent = context.active();
    const span = tracer.startSpan(GENERATE_METHOD, { kind: SpanKind.CLIENT, attributes: GENERATE_SPAN_ATTRIBUTES }, parent);
    const end = spanEnder(span, 'client', ctx.signal);
    const headers = grpcRequestHeaders(ctx.timeoutMs());
    propagation.inject(trace.setSpan(parent, span), headers);
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
      for await (const m of grpcStreamCall(session, { path: GENERATE_PATH, headers, body, signal: ctx.signal, maxBytes, peer: 'the worker' })) {
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
