import type { ConnectNodeAdapterOptions } from '@connectrpc/connect-node';
import { metricsHandler, type Registry } from '@tokenmesh/metrics';

import { type HealthReporter, ServingStatus } from './health-reporter';

/**
 * A plain HTTP handler on either listener; connect-node's own handler type, whose request and
 * response unify the HTTP/1.1 and HTTP/2 compatibility APIs.
 */
export type HttpHandler = NonNullable<ConnectNodeAdapterOptions['fallback']>;
/** A request on either listener. */
export type HttpRequest = Parameters<HttpHandler>[0];
/** A response on either listener. */
export type HttpResponse = Parameters<HttpHandler>[1];

/** What the non-RPC routes serve. */
export interface HttpRoutesOptions {
  health: HealthReporter;
  metrics?: Registry | undefined;
  /** Requests no RPC and no built-in route matched, e.g. the gateway's REST API. */
  http?: HttpHandler | undefined;
  /** More fields for `/ready`'s body (e.g. the router's bus and pool state); the status code stays health's. */
  readyDetail?: (() => Record<string, unknown>) | undefined;
}

function json(res: HttpResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/**
 * The handler for every request that is not an RPC: `/health` (alive: the event loop answers),
 * `/ready` (200 only while the overall gRPC health status is SERVING, so HTTP probes and gRPC
 * health checks never disagree), `/metrics` when a registry is given, then `http`, else 404.
 */
export function createHttpRoutes({ health, metrics, http, readyDetail }: HttpRoutesOptions): HttpHandler {
  const renderMetrics = metrics && metricsHandler(metrics);
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (read && path === '/health') return json(res, 200, { status: 'ok' });
    if (read && path === '/ready') {
      const serving = health.get('') === ServingStatus.SERVING;
      return json(res, serving ? 200 : 503, { status: serving ? 'ready' : 'not ready', ...readyDetail?.() });
    }
    if (path === '/metrics' && renderMetrics) return renderMetrics(req, res);
    if (http) return http(req, res);
    json(res, 404, { error: `no route for ${req.method ?? ''} ${path ?? ''}` });
  };
}
