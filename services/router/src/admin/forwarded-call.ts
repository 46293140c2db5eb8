import type { HandlerContext } from '@connectrpc/connect';

/**
 * The call options of an operator call passed on to the workers: its token (the workers hold
 * and check it; the router holds none), its cancellation and its deadline.
 */
export function forwarded(ctx: HandlerContext): { headers: Headers; signal: AbortSignal; timeoutMs?: number } {
  const headers = new Headers();
  const auth = ctx.requestHeader.get('authorization');
  if (auth) headers.set('authorization', auth);
  return { headers, signal: ctx.signal, timeoutMs: ctx.timeoutMs() };
}
