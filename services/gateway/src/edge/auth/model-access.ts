import { Code } from '@connectrpc/connect';

import { apiError } from '../api-error';
import type { Caller } from '../edge-policy';

/**
 * Whether `model` (name or name@version) is among `allowed`: an exact match, or an allowed bare
 * name covering all its versions. An allowed name@version does not admit the bare name (that
 * may route to other versions).
 */
export function modelAllowed(allowed: readonly string[], model: string): boolean {
  const name = model.split('@', 1)[0]!;
  return allowed.some((a) => a === model || (!a.includes('@') && a === name));
}

/**
 * Refuses a model the caller's key does not list.
 * @throws ConnectError PERMISSION_DENIED naming `model` (REST: 403, code model_not_allowed).
 */
export function checkModelAccess(caller: Caller, model: string): void {
  if (!caller.allowedModels || modelAllowed(caller.allowedModels, model)) return;
  throw apiError(
    Code.PermissionDenied,
    'model',
    `API key ${JSON.stringify(caller.keyName)} may not use ${JSON.stringify(model)} (allowed: ${caller.allowedModels.join(', ')})`,
  );
}
