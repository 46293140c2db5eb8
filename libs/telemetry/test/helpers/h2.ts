import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

import type { DescService } from '@bufbuild/protobuf';
import { type Client, type ConnectRouter, createClient, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter, createConnectTransport, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';

/** A Connect (+ gRPC + gRPC-Web) server on a free loopback port, as the services run it. */
export interface H2Server {
  url: string;
  close(): Promise<void>;
}

export async function startH2Server(routes: (router: ConnectRouter) => void, interceptors: Interceptor[]): Promise<H2Server> {
  const server = http2.createServer(connectNodeAdapter({ routes, interceptors }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A Connect client over its own HTTP/2 session; `close()` aborts the session so jest can exit. */
export function h2Client<S extends DescService>(
  service: S,
  url: string,
  interceptors: Interceptor[],
  protocol: 'grpc' | 'connect' = 'grpc',
): { client: Client<S>; close(): void } {
  const sessionManager = new Http2SessionManager(url);
  const options = { baseUrl: url, httpVersion: '2' as const, sessionManager, interceptors };
  const transport = protocol === 'grpc' ? createGrpcTransport(options) : createConnectTransport(options);
  return { client: createClient(service, transport), close: () => sessionManager.abort() };
}
