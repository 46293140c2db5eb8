import { type ContextValues, createContextKey, createContextValues } from '@connectrpc/connect';

/**
 * The client's address as the socket saw it, in every call's context values (handlers:
 * `ctx.values.get(PEER_ADDRESS)`, interceptors: `req.contextValues.get(PEER_ADDRESS)`). Connect
 * hides the socket from handlers; per-client decisions (anonymous rate limits) need it.
 */
export const PEER_ADDRESS = createContextKey<string>('unknown', { description: 'client address' });

/** The client's address as the request's socket saw it; 'unknown' once the socket is gone. REST routes use it directly. */
export function peerAddress(req: { socket?: { remoteAddress?: string } | null }): string {
  return req.socket?.remoteAddress ?? 'unknown';
}

/** The context values every call starts with. */
export function peerContextValues(req: { socket?: { remoteAddress?: string } | null }): ContextValues {
  return createContextValues().set(PEER_ADDRESS, peerAddress(req));
}
