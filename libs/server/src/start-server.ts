import { setMaxListeners } from 'node:events';

import type { MethodImplSpec } from '@connectrpc/connect';
import { Code, ConnectError, type ConnectRouter, type ConnectRouterOptions, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Logger } from '@tokenmesh/logging';
import type { Registry } from '@tokenmesh/metrics';
import { Health } from '@tokenmesh/proto';

import { grpcUnimplemented } from './grpc-unimplemented';
import { HealthReporter, ServingStatus } from './health-reporter';
import { registerHealthService } from './health-service';
import { createHttpRoutes, type HttpHandler } from './http-routes';
import { InProcessCalls, recordingRouter, registerInProcess } from './in-process';
import { type Http1Timeouts, Listeners } from './listeners';
import { peerContextValues } from './peer-address';
import { requestDecodeInterceptor, withRequestDecodeErrors } from './request-decode-errors';
import { registerReflection } from './server-reflection';
import { shutdownErrorInterceptor } from './shutdown-interceptor';
import { wellFormedErrorInterceptor } from './well-formed-errors';

/** How long `close()` lets calls in flight finish when neither it nor the options say. */
export const DEFAULT_GRACE_MS = 10_000;
// After the grace period handlers are told to stop; this long is left for them to send their
// error trailers before the connections are cut.
const CANCEL_FLUSH_MS = 500;

/** Options for `startServer`; only `routes` and `port` are required. */
/**
 * Sees every request before routing, on both listeners; true when it answered. `shutdown` aborts
 * when the grace period is over, as Connect's handlers are told (the router's frame relay).
 */
export type PreHandler = (req: Parameters<HttpHandler>[0], res: Parameters<HttpHandler>[1], shutdown: AbortSignal) => boolean;

export interface ServerOptions {
  /** The Connect routes, e.g. `(router) => router.service(TokenizerService, impl)`. */
  routes: (router: ConnectRouter) => void;
  /** The HTTP/2 (h2c) port for Connect, gRPC and gRPC-Web; 0 picks a free one. */
  port: number;
  /** Interface to bind; default 0.0.0.0 (all IPv4), as in a container. */
  host?: string;
  /** When set (0 allowed), an HTTP/1.1 listener with the same routes, for browsers and curl. */
  http1Port?: number;
  /** Limits on receiving a request on the HTTP/1.1 listener; Node's defaults (60 s, 300 s) when absent. */
  http1Timeouts?: Http1Timeouts;
  /** Server interceptors (tracing, metrics), outermost first. */
  interceptors?: Interceptor[];
  /** Start-up and shutdown lines (ports, calls in flight, grace period over); none when absent. */
  logger?: Logger;
  /** Served on GET /metrics when given. */
  metrics?: Registry;
  /** Plain HTTP requests that match no RPC and none of /health, /ready, /metrics (REST APIs). */
  http?: HttpHandler;
  /** More fields for GET /ready's body (its status code is the health's). */
  readyDetail?: () => Record<string, unknown>;
  /** Runs first for every request on both listeners, before RPCs and routes (e.g. CORS); true when it answered. */
  preHandler?: PreHandler;
  /** Default for `close()`; default DEFAULT_GRACE_MS. */
  gracePeriodMs?: number;
  /** Initial health of the server and every service it hosts; false until e.g. a model loads. */
  serving?: boolean;
  /** Other Connect router options (limits, JSON options, timeouts). */
  router?: Omit<ConnectRouterOptions, 'interceptors' | 'shutdownSignal'>;
}

/** A running server. */
export interface ServerHandle {
  /** The HTTP/2 port (the one asked for, or the one picked for 0). */
  readonly port: number;
  /** The HTTP/1.1 port when one was asked for. */
  readonly http1Port?: number;
  /** Base URL of the HTTP/2 listener, for clients: `http://127.0.0.1:PORT` on a wildcard host. */
  readonly url: string;
  /** Base URL of the HTTP/1.1 listener when there is one. */
  readonly http1Url?: string;
  /** What grpc.health.v1 and /ready report. */
  readonly health: HealthReporter;
  /**
   * Graceful stop: report NOT_SERVING (watchers see it), stop accepting connections and streams,
   * let calls in flight finish for up to `graceMs`, then abort the handlers' signals and close
   * what is left. Resolves when every connection is closed; later calls return the same promise.
   */
  close(graceMs?: number): Promise<void>;
}

function baseUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** Resolves true if `p` settles within `ms`, false otherwise; leaves no timer behind. */
function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  return Promise.race([p.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Start a Connect-node server speaking Connect, gRPC and gRPC-Web over HTTP/2 (and HTTP/1.1 on
 * `http1Port`), with grpc.health.v1, /health, /ready and /metrics. Every service registered by
 * `routes` starts in the health reporter with the `serving` status.
 */
export async function startServer(options: ServerOptions): Promise<ServerHandle> {
  const { host = '0.0.0.0', logger, gracePeriodMs = DEFAULT_GRACE_MS } = options;
  const health = new HealthReporter();
  const shutdown = new AbortController();
  // Every call in flight listens on it (Connect links each handler's signal to it): hundreds of
  // concurrent streams are normal here, not a leak.
  setMaxListeners(0, shutdown.signal);
  const services = new Set<string>(['']);
  const methods = new Map<string, MethodImplSpec>();
  const interceptors = [wellFormedErrorInterceptor, requestDecodeInterceptor, ...(options.interceptors ?? []), shutdownErrorInterceptor(shutdown.signal)];
  const handler = connectNodeAdapter({
    ...options.router,
    interceptors,
    shutdownSignal: shutdown.signal,
    contextValues: peerContextValues,
    routes: (plain) => {
      const router = recordingRouter(plain, methods);
      options.routes(router);
      // The services' own, before health and reflection join them: those are what health reports on.
      const served = [...new Set(router.handlers.map((h) => h.service))];
      for (const service of served) services.add(service.typeName);
      registerHealthService(router, health);
      registerReflection(router, [...served, Health]);
      // connectNodeAdapter maps paths to `router.handlers` once this returns: swap each for one that
      // answers an undecodable request body INVALID_ARGUMENT, not INTERNAL (see request-decode-errors).
      plain.handlers.splice(0, plain.handlers.length, ...plain.handlers.map(withRequestDecodeErrors));
    },
    fallback: grpcUnimplemented(createHttpRoutes({ health, metrics: options.metrics, http: options.http, readyDetail: options.readyDetail })),
  });
  const initial = options.serving === false ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
  for (const name of services) health.set(name, initial);

  const pre = options.preHandler;
  const first: HttpHandler = pre ? (req, res) => void (pre(req, res, shutdown.signal) || handler(req, res)) : handler;
  const listeners = await Listeners.start(first, host, options.port, options.http1Port, options.http1Timeouts);
  const { port, http1Port } = listeners;
  logger?.info('server listening', { host, port, http1_port: http1Port, services: [...services].filter(Boolean) });
  const url = baseUrl(host, port);
  // Callers in this process (npm start) reach these same handlers without a socket.
  const inProcess = new InProcessCalls();
  const unregister = registerInProcess(url, { methods, interceptors, shutdownSignal: shutdown.signal, enter: () => inProcess.enter() });

  let closing: Promise<void> | undefined;
  const close = async (graceMs: number): Promise<void> => {
    logger?.info('server shutting down', { in_flight: listeners.active, grace_ms: graceMs });
    health.shutdown();
    const drained = Promise.all([listeners.drain(), inProcess.drain()]).then(() => unregister());
    if (!(await within(drained, graceMs))) {
      logger?.warn('grace period over, cancelling calls still in flight', { in_flight: listeners.active });
      shutdown.abort(new ConnectError('server is shutting down', Code.Unavailable));
      if (!(await within(drained, CANCEL_FLUSH_MS))) listeners.destroy();
      await drained;
    }
    logger?.info('server closed');
  };

  return {
    port,
    ...(http1Port === undefined ? {} : { http1Port, http1Url: baseUrl(host, http1Port) }),
    url,
    health,
    close: (graceMs = gracePeriodMs) => (closing ??= close(graceMs)),
  };
}
