import type { EnvReader } from '@tokenmesh/config';

/** The response cache's settings. */
export interface CacheConfig {
  /** `GATEWAY_CACHE=on|off` (default on): deterministic requests are answered from the cache. */
  readonly enabled: boolean;
  /** `GATEWAY_CACHE_TTL_S` (default 3600; fractions allowed): how long an entry lives. */
  readonly ttlMs: number;
  /**
   * `GATEWAY_CACHE_LOCK_MS` (default 10000; 0 = off): the cross-replica single-flight lock's
   * lifetime, renewed while the generation runs; other replicas wait for the entry meanwhile.
   */
  readonly lockTtlMs: number;
  /**
   * `GATEWAY_IDEMPOTENCY_TTL_S` (default 3600; 0 = off): how long the answer to a request with an
   * `Idempotency-Key` is kept for the caller's retries (a batch runner's line after a crash).
   */
  readonly idempotencyTtlMs: number;
}

/** Reads GATEWAY_CACHE, GATEWAY_CACHE_TTL_S, GATEWAY_CACHE_LOCK_MS and GATEWAY_IDEMPOTENCY_TTL_S; problems go to `e`. */
export function cacheConfig(e: EnvReader): CacheConfig {
  const lockTtlMs = e.int('GATEWAY_CACHE_LOCK_MS', { default: 10_000, min: 0, max: 600_000 });
  e.check(lockTtlMs === 0 || lockTtlMs >= 100, `GATEWAY_CACHE_LOCK_MS must be 0 (off) or at least 100, got ${lockTtlMs}`);
  return {
    enabled: e.oneOf('GATEWAY_CACHE', ['on', 'off'], 'on') === 'on',
    ttlMs: Math.max(1, Math.round(e.float('GATEWAY_CACHE_TTL_S', { default: 3600, min: 0.001, max: 30 * 86_400 }) * 1000)),
    lockTtlMs,
    idempotencyTtlMs: Math.round(e.float('GATEWAY_IDEMPOTENCY_TTL_S', { default: 3600, min: 0, max: 7 * 86_400 }) * 1000),
  };
}
