import { randomUUID } from 'node:crypto';

import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '@tokenmesh/logging';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { DEFAULT_REQUEST_TIMEOUT_MS, startDeadline } from '../../edge/deadline';
import { errorBody, isUnexpected, sendError } from './http-json';

const SILENT: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => SILENT };

/** What the REST dispatcher gives every route: the request id and the signal its upstream calls take. */
export interface RequestContext {
  readonly requestId: string;
  readonly signal: AbortSignal;
  /** Logs an error the client is answered with as a 500 (an SSE stream's last event included); others are the client's. */
  readonly report: (err: unknown) => void;
}

/**
 * Per-request id (the caller's x-request-id or a new one) and a signal that fires when the client
 * goes away or the request timeout expires; either cancels every upstream call made with it. On
 * a timeout the answer is given here, whatever the route is doing: a 504 `timeout` error in
 * OpenAI's shape before any byte went out, an error event and `data: [DONE]` on an SSE stream
 * already started, a cut connection otherwise.
 */
export function requestContext(req: HttpRequest, res: HttpResponse, timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS, logger: Logger = SILENT): RequestContext {
  const given = req.headers['x-request-id'];
  const requestId = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
  const client = new AbortController();
  const deadline = startDeadline(timeoutMs, client.signal, (err) => answerTimeout(res, err));
  // 'close' before the response finished means the client disconnected: cancel upstream at once.
  res.on('close', () => {
    if (!res.writableEnded) client.abort(new ConnectError('the client closed the connection', Code.Canceled));
    deadline.dispose();
  });
  res.setHeader('x-request-id', requestId);
  const report = (err: unknown) => {
    if (isUnexpected(err)) logger.error('REST request failed', { method: req.method, path: (req.url ?? '/').split('?')[0], request_id: requestId, error: err });
  };
  return { requestId, signal: deadline.signal, report };
}

function answerTimeout(res: HttpResponse, err: ConnectError): void {
  if (res.writableEnded || res.destroyed) return;
  // The route learns of the timeout through its signal only after this answer: an event it was
  // about to write then lands on an ended response, which Node reports as an 'error' event.
  res.on('error', () => undefined);
  if (!res.headersSent) return sendError(res, err);
  const type = res.getHeader('content-type');
  if (typeof type === 'string' && type.startsWith('text/event-stream')) {
    res.write(`data: ${JSON.stringify(errorBody(err).body)}\n\n`);
    res.end('data: [DONE]\n\n');
    return;
  }
  // A body half sent in another framing cannot carry an error: cut it so the client sees it failed.
  res.destroy();
}
