import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { Health, ModelRegistryService } from '@tokenmesh/proto';
import { PEER_ADDRESS } from '@tokenmesh/server';

import type { Caller } from '../edge-policy';
import type { ApiKeyAuth } from './api-key-auth';
import { CALLER } from './request-caller';

/**
 * Server interceptor for gRPC, Connect and gRPC-Web: takes the key from the same headers as REST
 * (`authorization: Bearer <key>` or `x-api-key`), puts the caller into the call's context values
 * (`callerIn`) or fails with UNAUTHENTICATED (`www-authenticate: Bearer`). grpc.health.v1 stays
 * open for probes. Put it after tracing and metrics so refused calls are still traced and counted.
 */
export function authInterceptor(auth: ApiKeyAuth): Interceptor {
  return (next) => async (req) => {
    if (req.service.typeName === Health.typeName) return next(req);
    // Operators' calls carry the admin token, checked by the workers and routers, not an API key.
    if (req.service.typeName === ModelRegistryService.typeName) return next(req);
    req.contextValues.set(CALLER, await rpcCaller(auth, req.header, req.contextValues.get(PEER_ADDRESS)));
    return next(req);
  };
}

/**
 * The caller an RPC's headers authenticate, for this interceptor and for handlers served past
 * Connect (gRPC StreamPredict); @throws UNAUTHENTICATED with `www-authenticate: Bearer`.
 */
export async function rpcCaller(auth: ApiKeyAuth, header: Headers, peerAddress: string): Promise<Caller> {
  const result = await auth.authenticate((name) => header.get(name) ?? undefined, peerAddress);
  if (result.failure) throw new ConnectError(result.failure.message, Code.Unauthenticated, { 'www-authenticate': 'Bearer' });
  return result.caller;
}
