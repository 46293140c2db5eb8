import { type Client, createClient, type Interceptor, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import { FeedbackService, InferenceService } from '@tokenmesh/proto';

export type Protocol = 'connect' | 'grpc-web';

/** The generated clients the page calls, over one transport. */
export interface GatewayClients {
  readonly inference: Client<typeof InferenceService>;
  readonly feedback: Client<typeof FeedbackService>;
}

/** Sends the API key (when one is typed) as the gateway's other clients do: `Authorization: Bearer`. */
function apiKeyInterceptor(apiKey: () => string): Interceptor {
  return (next) => (req) => {
    const key = apiKey().trim();
    if (key) req.header.set('authorization', `Bearer ${key}`);
    return next(req);
  };
}

/**
 * Clients for the gateway at `baseUrl` over Connect (JSON, GET for read-only calls: cacheable) or
 * gRPC-Web (binary): exactly what a browser integrator builds with @connectrpc/connect-web.
 */
export function gatewayClients(baseUrl: string, protocol: Protocol, apiKey: () => string): GatewayClients {
  const interceptors = [apiKeyInterceptor(apiKey)];
  const transport: Transport =
    protocol === 'grpc-web' ? createGrpcWebTransport({ baseUrl, interceptors }) : createConnectTransport({ baseUrl, interceptors, useHttpGet: true });
  return { inference: createClient(InferenceService, transport), feedback: createClient(FeedbackService, transport) };
}
