import type { Tracer } from '@opentelemetry/api';
import { GenerationService } from '@tokenmesh/proto';
import { grpcStreamHandler, type PreHandler, type RpcOutcome } from '@tokenmesh/server';

import type { TrafficRouter } from '../routing/traffic-router';
import { frameAttempt } from './frame-attempt';

export interface GenerateRelayOptions {
  readonly router: TrafficRouter;
  readonly tracer: Tracer;
  /** The service's RPC metrics (rpcServerOutcomes), shared with its Connect handlers. */
  readonly outcomes: RpcOutcome;
  /** Largest message taken from the caller or a worker. */
  readonly maxBytes: number;
}

/**
 * The router's Generate for gRPC callers (the gateway, grpc-js, grpcio), past Connect on both
 * sides: the request is decoded to route it, and the worker's response frames are passed on as
 * they are, each with the variant's field appended (frameAttempt). Picking, retries, ejection and
 * splits are the TrafficRouter's, as for Connect calls; deadline, cancel, shutdown, the server
 * span and the RPC metrics are grpcStreamHandler's.
 */
export function generateRelay(o: GenerateRelayOptions): PreHandler {
  const run = frameAttempt(o.tracer, o.maxBytes);
  return grpcStreamHandler({
    method: GenerationService.method.generate,
    frames: (req, ctx) => o.router.generate(req, ctx, run),
    tracer: o.tracer,
    outcomes: o.outcomes,
    maxBytes: o.maxBytes,
  });
}
