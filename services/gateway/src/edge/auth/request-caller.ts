import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import { type HttpRequest, PEER_ADDRESS, peerAddress } from '@tokenmesh/server';

import { anonymous, type Caller } from '../edge-policy';

/**
 * Where authentication leaves the caller for the handlers: on a REST request (set by the REST
 * dispatcher before the route runs) and in a gRPC/Connect call's context values (set by the auth
 * interceptor). Handlers read it with `callerOf` / `callerIn`.
 */
const restCallers = new WeakMap<HttpRequest, Caller>();

export const CALLER = createContextKey<Caller | undefined>(undefined, { description: 'tokenmesh caller' });

export function setRestCaller(req: HttpRequest, caller: Caller): void {
  restCallers.set(req, caller);
}

/** The REST request's caller; anonymous by socket address when authentication set none. */
export function callerOf(req: HttpRequest): Caller {
  return restCallers.get(req) ?? anonymous(peerAddress(req));
}

/** The gRPC/Connect call's caller; anonymous by peer address when authentication set none. */
export function callerIn(ctx: HandlerContext): Caller {
  return ctx.values.get(CALLER) ?? anonymous(ctx.values.get(PEER_ADDRESS));
}
