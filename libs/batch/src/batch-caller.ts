import type { BatchOwner } from './batch-store';

/**
 * The header that names the owner a batch line runs as. The gateway believes it only beside its
 * GATEWAY_BATCH_TOKEN (the batch service's credential); from anyone else it is ignored.
 */
export const BATCH_CALLER_HEADER = 'x-tokenmesh-batch-caller';

/** The header through which a client lowers its own requests' queue priority (batch lines do; 0 = interactive). */
export const PRIORITY_HEADER = 'x-tokenmesh-priority';

export const encodeBatchCaller = (owner: BatchOwner): string => Buffer.from(JSON.stringify(owner)).toString('base64url');

/** The owner in a header value, or undefined when it is not one. */
export function decodeBatchCaller(value: string): BatchOwner | undefined {
  try {
    const o = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<BatchOwner>;
    if (typeof o.keyName !== 'string' || o.keyName === '') return undefined;
    if (o.allowedModels !== undefined && !(Array.isArray(o.allowedModels) && o.allowedModels.every((m) => typeof m === 'string'))) return undefined;
    return {
      keyName: o.keyName,
      ...(o.allowedModels && { allowedModels: o.allowedModels }),
      ...(o.limits && typeof o.limits === 'object' && { limits: o.limits }),
    };
  } catch {
    return undefined;
  }
}
