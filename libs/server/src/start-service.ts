import type { ConnectRouter } from '@connectrpc/connect';

import type { HttpHandler } from './http-routes';
import type { Http1Timeouts } from './listeners';
import type { RunningService, ServiceRuntime } from './service-runtime';
import { type PreHandler, type ServerOptions, startServer } from './start-server';

/** Where a service listens: HTTP/2 for RPCs, HTTP/1.1 for /metrics, probes, REST and browsers. */
export interface Listen {
  readonly host: string;
  readonly port: number;
  readonly httpPort: number;
}

export interface ServiceSpec {
  readonly name: string;
  readonly listen: Listen;
  readonly routes: (router: ConnectRouter) => void;
  /** Plain HTTP requests no RPC or built-in route matched (the gateway's REST API). */
  readonly http?: HttpHandler;
  /** More fields for GET /ready's body (e.g. the router's bus and pool state). */
  readonly readyDetail?: () => Record<string, unknown>;
  /** Runs before any routing on both listeners (the gateway's CORS); true when it answered. */
  readonly preHandler?: PreHandler;
  /** Limits on receiving a request on the HTTP/1.1 listener (headers, whole request). */
  readonly http1Timeouts?: Http1Timeouts;
  /** Start NOT_SERVING (e.g. until models are warm); default true. */
  readonly serving?: boolean;
  /** Connect router options for the RPCs (e.g. the gateway's readMaxBytes). */
  readonly router?: ServerOptions['router'];
  /** Frees what the service owns (models, clients, stores): after the server has drained, or when it fails to start. */
  readonly release?: () => Promise<void> | void;
}

/** Starts a service's server with its runtime's interceptors, logger and metrics. */
export async function startService(spec: ServiceSpec, rt: ServiceRuntime): Promise<RunningService> {
  let server;
  try {
    server = await startServer({
      routes: spec.routes,
      http: spec.http,
      readyDetail: spec.readyDetail,
      preHandler: spec.preHandler,
      host: spec.listen.host,
      port: spec.listen.port,
      http1Port: spec.listen.httpPort,
      http1Timeouts: spec.http1Timeouts,
      interceptors: rt.serverInterceptors,
      logger: rt.logger,
      metrics: rt.metrics,
      serving: spec.serving ?? true,
      router: spec.router,
    });
  } catch (err) {
    await spec.release?.();
    throw err;
  }
  const running = server;
  return {
    name: spec.name,
    server,
    async close(grace) {
      await running.close(grace);
      await spec.release?.();
    },
  };
}
