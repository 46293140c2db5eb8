import type { Client } from '@connectrpc/connect';
import type { GenerationService } from '@tokenmesh/proto';
import type { ServiceRuntime } from '@tokenmesh/server';
import type { CircuitBreakerOptions, Store } from '@tokenmesh/store';

import { DEFAULT_REQUEST_TIMEOUT_MS } from '../edge/deadline';
import type { ResponseCache } from '../edge/edge-policy';
import { routerCatalog, type ServedModelCatalog } from '../pipeline/served-model-catalog';
import type { CacheConfig } from './cache-config';
import { StoreResponseCache } from './response-cache';

/**
 * The gateway's response cache over `store` (the one it shares with the rate limiter: Redis at
 * REDIS_URL, else memory), or undefined when GATEWAY_CACHE=off. Logs the effective settings.
 * Cache keys name the versions `catalog` (the gateway's one list of what `router` serves) says are served.
 */
export function startResponseCache(
  config: { readonly cache: CacheConfig; readonly storeBreaker?: CircuitBreakerOptions },
  rt: Pick<ServiceRuntime, 'metrics' | 'logger'>,
  store: Store,
  router: Client<typeof GenerationService>,
  catalog: ServedModelCatalog = routerCatalog(router),
): ResponseCache | undefined {
  const { enabled, ttlMs, lockTtlMs } = config.cache;
  rt.logger.info('response cache', { enabled, ttl_s: ttlMs / 1000, lock_ms: lockTtlMs });
  if (!enabled) return undefined;
  // The cache fails open (requests still succeed): its store's outages are logged once each.
  // …and after a few failures in a row it stops asking the store for a cool-down (GATEWAY_STORE_BREAKER_*).
  const breaker = config.storeBreaker;
  return new StoreResponseCache({
    store,
    ttlMs,
    lockTtlMs,
    metrics: rt.metrics,
    servedModels: () => catalog.models(),
    logger: rt.logger,
    ...(breaker ? { breaker } : {}),
  });
}

/**
 * The store of answers to requests with an `Idempotency-Key` (same store as the cache), or
 * undefined when GATEWAY_IDEMPOTENCY_TTL_S=0. A generation whose caller left goes on for up to
 * the request timeout, so the caller's retry finds it rather than generating again.
 */
export function startIdempotentReplays(
  config: { readonly cache: CacheConfig; readonly requestTimeoutMs: number; readonly storeBreaker?: CircuitBreakerOptions },
  rt: Pick<ServiceRuntime, 'metrics' | 'logger'>,
  store: Store,
  catalog: ServedModelCatalog,
): ResponseCache | undefined {
  const { idempotencyTtlMs, lockTtlMs } = config.cache;
  rt.logger.info('idempotent requests', { ttl_s: idempotencyTtlMs / 1000 });
  if (idempotencyTtlMs === 0) return undefined;
  const breaker = config.storeBreaker;
  return new StoreResponseCache({
    store,
    ttlMs: idempotencyTtlMs,
    lockTtlMs,
    idempotency: { outlivesCallersMs: config.requestTimeoutMs || DEFAULT_REQUEST_TIMEOUT_MS },
    metrics: rt.metrics,
    servedModels: () => catalog.models(),
    logger: rt.logger,
    ...(breaker ? { breaker } : {}),
  });
}
