import { Code } from '@connectrpc/connect';
import { PRIORITY_HEADER } from '@tokenmesh/batch';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';
import { callerOf } from '../../edge/auth/request-caller';
import type { TextRequest } from '../../pipeline/generate-text';

/**
 * `x-tokenmesh-priority`: a client may lower its own requests' place in the workers' queues (a
 * batch line asks for 10). Only lower: 0, interactive, is the best there is.
 * @throws ConnectError INVALID_ARGUMENT naming the header
 */
function requestPriority(req: HttpRequest): number | undefined {
  const v = req.headers[PRIORITY_HEADER];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n > 1000)
    throw apiError(Code.InvalidArgument, PRIORITY_HEADER, `must be an integer from 0 (interactive, the default) to 1000, got ${JSON.stringify(v)}`);
  return n;
}

/** The most characters an Idempotency-Key may have (Stripe's limit). */
export const MAX_IDEMPOTENCY_KEY = 255;

/**
 * `Idempotency-Key`: tries of one request share one generation (a retry after a lost answer, or a
 * batch line run again after its runner crashed, is not generated twice).
 * @throws ConnectError INVALID_ARGUMENT naming the header
 */
function idempotencyKey(req: HttpRequest): string | undefined {
  const v = req.headers['idempotency-key'];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_IDEMPOTENCY_KEY || !/^[\x21-\x7e]+$/.test(v))
    throw apiError(
      Code.InvalidArgument,
      'idempotency-key',
      `must be 1 to ${MAX_IDEMPOTENCY_KEY} visible ASCII characters, got ${JSON.stringify(v).slice(0, 80)}`,
    );
  return v;
}

/**
 * What every REST route hands generateText about the edge: the authenticated caller, and
 * callbacks that put the cache outcome and the rate-limit standing into the response headers
 * (they run before the first event, so before an SSE stream's headers go out).
 */
export function edgeHooks(req: HttpRequest, res: HttpResponse): Pick<TextRequest, 'caller' | 'onCache' | 'onLimits' | 'priority' | 'idempotencyKey'> {
  const priority = requestPriority(req);
  const key = idempotencyKey(req);
  return {
    caller: callerOf(req),
    ...(priority !== undefined && { priority }),
    ...(key !== undefined && { idempotencyKey: key }),
    onCache: (o) => res.setHeader('x-tokenmesh-cache', o),
    onLimits: (headers) => {
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    },
  };
}
