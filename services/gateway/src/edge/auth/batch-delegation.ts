import { timingSafeEqual } from 'node:crypto';

import { BATCH_CALLER_HEADER, decodeBatchCaller } from '@tokenmesh/batch';
import type { HttpRequest } from '@tokenmesh/server';

import type { Caller } from '../edge-policy';

/**
 * The caller a batch line runs as: the batch's owner, named by the batch service in
 * `x-tokenmesh-batch-caller`, believed only when the request also carries GATEWAY_BATCH_TOKEN as
 * its bearer token (compared in constant time). Otherwise undefined: the request authenticates as
 * any other, and the header means nothing.
 */
export function delegatedCaller(req: HttpRequest, token: string | undefined): Caller | undefined {
  if (!token) return undefined;
  const named = req.headers[BATCH_CALLER_HEADER];
  const auth = req.headers['authorization'];
  if (typeof named !== 'string' || typeof auth !== 'string') return undefined;
  const given = Buffer.from(auth);
  const want = Buffer.from(`Bearer ${token}`);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
  const owner = decodeBatchCaller(named);
  if (!owner) return undefined;
  return {
    keyName: owner.keyName,
    subject: `key:${owner.keyName}`,
    ...(owner.allowedModels && { allowedModels: owner.allowedModels }),
    ...(owner.limits && { limits: owner.limits }),
  };
}
