import type { DescService } from '@bufbuild/protobuf';
import type { Client, Interceptor, Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, type Http2SessionManager } from '@connectrpc/connect-node';

export type { Http2SessionManager } from '@connectrpc/connect-node';

import { inProcessEndpoint } from './in-process';
import { inProcessTransport } from './in-process-transport';
import { createLeanClient } from './lean-client';
import { safeSessionManager } from './safe-session-manager';

export interface ServiceClientOptions {
  /** Wire protocol over HTTP/2; default 'grpc', which every service and grpc-js tools speak. */
  protocol?: 'grpc' | 'connect';
  /** Client interceptors (tracing, deadlines), outermost first. */
  interceptors?: Interceptor[];
  /** Default deadline for every call, in ms, unless a call sets `timeoutMs`. */
  defaultTimeoutMs?: number;
}

/** A typed client for one service and the HTTP/2 connection it owns. */
export interface ServiceClient<S extends DescService> {
  client: Client<S>;
  transport: Transport;
  /**
   * The HTTP/2 connection, for callers that relay gRPC frames without decoding them (the
   * router); undefined when the server runs in this process, where calls take no socket.
   */
  readonly session: () => Http2SessionManager | undefined;
  /** Close the connection; calls still running fail. Without it the process (or jest) stays up. */
  close(): void;
}

/**
 * A Connect client for `service` at `baseUrl` (e.g. `http://tokenizer:50051`) over one HTTP/2
 * connection that is reused by every call and reconnects after the peer goes away; or, when
 * that server runs in this process and in-process calls are enabled, straight to its handlers.
 */
export function createServiceClient<S extends DescService>(
  service: S,
  baseUrl: string,
  { protocol = 'grpc', interceptors = [], defaultTimeoutMs }: ServiceClientOptions = {},
): ServiceClient<S> {
  const sessionManager = safeSessionManager(baseUrl);
  const options = { baseUrl, httpVersion: '2' as const, sessionManager, interceptors, defaultTimeoutMs };
  const network = protocol === 'grpc' ? createGrpcTransport(options) : createConnectTransport(options);
  const transport = inProcessTransport(baseUrl, network, interceptors, defaultTimeoutMs);
  return {
    client: createLeanClient(service, transport),
    transport,
    session: () => (inProcessEndpoint(baseUrl) ? undefined : sessionManager),
    close: () => sessionManager.abort(),
  };
}
