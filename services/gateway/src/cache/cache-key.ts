import { createHash } from 'node:crypto';

import type { CacheKeyParts } from '../edge/edge-policy';

/**
 * Bumped whenever the key's inputs or the stored entry's shape change, so a replica running newer
 * code never reads an entry written by older code (old entries just expire).
 */
export const CACHE_FORMAT = 3;

/**
 * JSON with object keys sorted at every depth, `undefined` members dropped and bigints (the
 * sampling seed) written as `"<n>n"`: equal values give equal text whatever the key order.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/** What the key is computed from, once the requested model is resolved to what will serve it. */
export interface ResolvedKey {
  /** `name@version`, or a bare name served by several versions (then `routingKey` is set). */
  readonly model: string;
  /** Only when the routing key picks the version (a traffic split); see `resolveModel`. */
  readonly routingKey?: string;
  readonly promptTokenIds: readonly number[];
  readonly sampling: CacheKeyParts['sampling'];
  /** The caller's Idempotency-Key (with the caller): absent from the response cache's keys. */
  readonly idempotencyKey?: string;
}

/** SHA-256 (hex) of the canonical JSON of the format, model, routing key (if any), prompt token ids, sampling and idempotency key (if any). */
export function cacheKey(k: ResolvedKey): string {
  const input = canonicalJson({
    format: CACHE_FORMAT,
    model: k.model,
    routingKey: k.routingKey,
    promptTokenIds: k.promptTokenIds,
    sampling: k.sampling,
    idempotencyKey: k.idempotencyKey,
  });
  return createHash('sha256').update(input).digest('hex');
}
