import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';

import { useSpecGrpcMessage } from './grpc-message';
import type { HttpHandler, HttpRequest, HttpResponse } from './http-routes';

function listen(server: http.Server | http2.Http2Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function http1Options({ headersTimeoutMs, requestTimeoutMs }: Http1Timeouts): http.ServerOptions {
  const shortest = Math.min(headersTimeoutMs, requestTimeoutMs || headersTimeoutMs);
  // Node checks these limits every connectionsCheckingInterval (30 s by default), which would
  // let a 5 s headers timeout last up to 35 s: check at least every half limit, at most 1 s.
  return {
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(shortest / 2))),
  };
}

function closeServer(server: http.Server | http2.Http2Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Node's limits on the HTTP/1.1 listener for receiving a request (not for answering it). */
export interface Http1Timeouts {
  /** Time to receive the complete request headers (Node's `headersTimeout`); 408 after it. */
  readonly headersTimeoutMs: number;
  /** Time to receive the complete request, body included (Node's `requestTimeout`); 0 = none. */
  readonly requestTimeoutMs: number;
}

/**
 * The HTTP/2 (h2c) listener and the optional HTTP/1.1 one, with what a graceful close needs to
 * know: open sessions, requests in flight, and whether draining has begun. Node's
 * `http2.Server.close()` only stops accepting connections; the sessions must be told to go away
 * (GOAWAY) one by one, which is why they are tracked here.
 */
export class Listeners {
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly sockets = new Set<Socket>();
  private inFlight = 0;
  private draining = false;
  private closedPromise: Promise<void> | undefined;
  // Kept after listening: address() returns null once a server has closed.
  private readonly ports: [number, number | undefined] = [0, undefined];

  private readonly h2: http2.Http2Server;
  private readonly h1: http.Server | undefined;

  private constructor(handler: HttpHandler, withHttp1: boolean, timeouts?: Http1Timeouts) {
    const track: HttpHandler = (req, res) => this.handle(handler, req, res);
    this.h2 = http2.createServer(track);
    this.h1 = withHttp1 ? http.createServer(timeouts ? http1Options(timeouts) : {}, track) : undefined;
    this.h2.on('session', (s) => {
      this.sessions.add(s);
      s.once('close', () => this.sessions.delete(s));
    });
    this.h2.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Listen on `port` (HTTP/2) and, when given, `http1Port` (HTTP/1.1); 0 picks a free port. */
  static async start(handler: HttpHandler, host: string, port: number, http1Port?: number, timeouts?: Http1Timeouts): Promise<Listeners> {
    const self = new Listeners(handler, http1Port !== undefined, timeouts);
    try {
      await listen(self.h2, port, host);
      self.ports[0] = (self.h2.address() as AddressInfo).port;
      if (self.h1) await listen(self.h1, http1Port!, host);
      if (self.h1) self.ports[1] = (self.h1.address() as AddressInfo).port;
      return self;
    } catch (err) {
      await Promise.all([self.h2.listening && closeServer(self.h2), self.h1?.listening && closeServer(self.h1)]);
      throw err;
    }
  }

  /** The HTTP/2 port. */
  get port(): number {
    return this.ports[0];
  }

  /** The HTTP/1.1 port, when that listener was asked for. */
  get http1Port(): number | undefined {
    return this.ports[1];
  }

  /** Requests (unary calls and streams) that have started and not yet finished. */
  get active(): number {
    return this.inFlight;
  }

  private handle(handler: HttpHandler, req: HttpRequest, res: HttpResponse): void {
    if (this.draining) {
      // A request on a keep-alive HTTP/1.1 connection (HTTP/2 refuses streams after GOAWAY):
      // 503 maps to Unavailable in Connect, gRPC-Web and gRPC clients, i.e. "retry elsewhere".
      res.writeHead(503, req.httpVersionMajor === 1 ? { connection: 'close' } : {});
      res.end();
      return;
    }
    this.inFlight++;
    res.once('close', () => {
      this.inFlight--;
      // Keep-alive connections that just went idle would otherwise hold the HTTP/1.1 close open.
      if (this.draining) setImmediate(() => this.h1?.closeIdleConnections());
    });
    useSpecGrpcMessage(req, res);
    handler(req, res);
  }

  /**
   * Stop accepting connections and new streams and let the ones in flight run. Returns a promise
   * that resolves once every connection on both listeners has closed.
   */
  drain(): Promise<void> {
    if (this.closedPromise) return this.closedPromise;
    this.draining = true;
    this.closedPromise = Promise.all([closeServer(this.h2), this.h1 && closeServer(this.h1)]).then(() => undefined);
    for (const s of this.sessions) s.close();
    return this.closedPromise;
  }

  /** Cut every connection still open, finished or not. Only after `drain()` and its grace period. */
  destroy(): void {
    for (const s of this.sessions) s.destroy();
    // A session that was close()d waits for the peer to end the socket even when destroyed, and
    // a client that stopped reading never does: cut the sockets themselves.
    for (const socket of this.sockets) socket.destroy();
    this.h1?.closeAllConnections();
  }
}
