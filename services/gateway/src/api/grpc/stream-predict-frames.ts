import type { Tracer } from '@opentelemetry/api';
import { InferenceService, StreamPredictResponseSchema } from '@tokenmesh/proto';
import { framed, grpcStreamHandler, type PreHandler, type RpcOutcome } from '@tokenmesh/server';

import type { ApiKeyAuth } from '../../edge/auth/api-key-auth';
import { rpcCaller } from '../../edge/auth/auth-interceptor';
import type { Upstreams } from '../../pipeline/generate-text';
import { streamPredictResponses } from './inference-api';

export interface StreamPredictFramesOptions {
  readonly requestTimeoutMs?: number;
  readonly tracer: Tracer;
  /** The gateway's RPC metrics (rpcServerOutcomes), shared with its Connect handlers. */
  readonly outcomes: RpcOutcome;
  /** GATEWAY_BODY_LIMIT_BYTES, as for Connect's calls. */
  readonly maxBytes: number;
}

/**
 * StreamPredict for gRPC callers (grpc-js, grpcio, Go: HTTP/2, `application/grpc`), served past
 * Connect by libs/server's grpcStreamHandler: every text chunk is encoded once and written, where
 * Connect sent it through the handler's, each interceptor's and serialization's async iterables.
 * The handler does what the tracing, deadline and metrics interceptors do; the API key is checked
 * here by the auth interceptor's own check (`rpcCaller`). Connect, gRPC-Web and compressed calls are left to Connect.
 */
export function streamPredictFrames(up: Upstreams, auth: ApiKeyAuth, o: StreamPredictFramesOptions): PreHandler {
  const responses = streamPredictResponses(up, { requestTimeoutMs: o.requestTimeoutMs });
  return grpcStreamHandler({
    method: InferenceService.method.streamPredict,
    tracer: o.tracer,
    outcomes: o.outcomes,
    maxBytes: o.maxBytes,
    frames: (req, ctx) =>
      framed(
        StreamPredictResponseSchema,
        responses(req, {
          signal: ctx.signal,
          requestHeader: ctx.requestHeader,
          responseHeader: ctx.responseHeader,
          caller: () => rpcCaller(auth, ctx.requestHeader, ctx.peerAddress),
        }),
      ),
  });
}
