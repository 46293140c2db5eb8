import { type HttpRequest, type HttpResponse, peerAddress } from '@tokenmesh/server';

import { sendJson } from '../../api/rest/http-json';
import type { ApiKeyAuth } from './api-key-auth';
import { setRestCaller } from './request-caller';

/**
 * Authenticates a REST request before its route runs: sets the caller (`callerOf`) and resolves
 * true, or answers 401 in OpenAI's error shape with `WWW-Authenticate: Bearer` and resolves false.
 * @throws ConnectError UNAVAILABLE when the key store cannot be read (the dispatcher's 503).
 */
export async function authenticateRest(auth: ApiKeyAuth, req: HttpRequest, res: HttpResponse): Promise<boolean> {
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const result = await auth.authenticate(header, peerAddress(req));
  if (result.caller) {
    setRestCaller(req, result.caller);
    return true;
  }
  sendJson(
    res,
    401,
    { error: { message: result.failure.message, type: 'authentication_error', param: null, code: result.failure.code } },
    { 'www-authenticate': 'Bearer' },
  );
  return false;
}
