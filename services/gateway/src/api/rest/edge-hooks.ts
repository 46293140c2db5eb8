import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { callerOf } from '../../edge/auth/request-caller';
import type { TextRequest } from '../../pipeline/generate-text';

/**
 * What every REST route hands generateText about the edge: the authenticated caller, and
 * callbacks that put the cache outcome and the rate-limit standing into the response headers
 * (they run before the first event, so before an SSE stream's headers go out).
 */
export function edgeHooks(req: HttpRequest, res: HttpResponse): Pick<TextRequest, 'caller' | 'onCache' | 'onLimits'> {
  return {
    caller: callerOf(req),
    onCache: (o) => res.setHeader('x-tokenmesh-cache', o),
    onLimits: (headers) => {
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    },
  };
}
