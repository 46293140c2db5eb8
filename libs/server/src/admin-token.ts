import { timingSafeEqual } from 'node:crypto';

import { Code, ConnectError } from '@connectrpc/connect';

/**
 * Checks an operator call's `authorization: Bearer <token>` against the service's admin token
 * (INFERENCE_ADMIN_TOKEN, ROUTER_ADMIN_TOKEN: `variable` names it in the error). Without a
 * configured token, run-time changes are off: nobody may make them.
 * @throws ConnectError PERMISSION_DENIED (off) or UNAUTHENTICATED (no token or another one)
 */
export function checkAdminToken(header: Headers, token: string | undefined, variable: string): void {
  if (!token) throw new ConnectError(`run-time changes are off on this service: set ${variable} to allow them`, Code.PermissionDenied);
  const given = /^Bearer\s+(.+)$/i.exec(header.get('authorization') ?? '')?.[1]?.trim() ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new ConnectError(`${given ? 'a wrong token' : 'no token'}: this call needs authorization: Bearer <${variable}>`, Code.Unauthenticated);
  }
}
