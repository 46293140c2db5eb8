import type { IncomingMessage } from 'node:http';

import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';

/** Probe and scrape paths: a root span every few seconds per service would bury the requests. */
const PROBES = new Set(['/health', '/ready', '/metrics']);

/**
 * Incoming HTTP requests the http instrumentation leaves alone: probes and scrapes, and Connect,
 * gRPC and gRPC-Web requests on the optional HTTP/1.1 listener, which `serverTracingInterceptor`
 * traces (an http SERVER span as well would give each RPC two sibling server spans).
 */
export function isUntracedRequest(req: IncomingMessage): boolean {
  const type = req.headers['content-type'] ?? '';
  return (
    PROBES.has((req.url ?? '').split('?')[0] ?? '') ||
    type.startsWith('application/grpc') ||
    type.startsWith('application/connect+') ||
    req.headers['connect-protocol-version'] !== undefined
  );
}

/**
 * grpc-js (clients and servers) and node:http instrumentation. Both patch modules as they are
 * required, so they only work for modules loaded after `initTelemetry()` runs (CommonJS);
 * Connect over HTTP/2 is not covered by either and needs the Connect interceptors.
 */
export function defaultInstrumentations(): Array<GrpcInstrumentation | HttpInstrumentation> {
  return [new GrpcInstrumentation(), new HttpInstrumentation({ ignoreIncomingRequestHook: isUntracedRequest })];
}
