import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

/** Per-request id (the caller's x-request-id or a new one) and a signal that fires when the client goes away. */
export function requestContext(req: HttpRequest, res: HttpResponse): { requestId: string; signal: AbortSignal } {
  const given = req.headers['x-request-id'];
  const requestId = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
  const abort = new AbortController();
  // 'close' before the response finished means the client disconnected: cancel upstream at once.
  res.on('close', () => {
    if (!res.writableEnded) abort.abort();
  });
  res.setHeader('x-request-id', requestId);
  return { requestId, signal: abort.signal };
}
