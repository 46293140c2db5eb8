import type { Client } from '@connectrpc/connect';
import type { GenerationService } from '@tokenmesh/proto';
import type { ServiceRuntime } from '@tokenmesh/server';
import type { Store } from '@tokenmesh/store';
import type { ResponseCache } from '../edge/edge-policy';
import type { CacheConfig } from './cache-config';
import { StoreResponseCache } from './response-cache';

/**
 * The gateway's response cache over `store` (the one it shares with the rate limiter: Redis at
 * REDIS_URL, else memory), or undefined when GATEWAY_CACHE=off. Logs the effective settings.
 */
export function startResponseCache(
  config: { readonly cache: CacheConfig },
  rt: Pick<ServiceRuntime, 'metrics' | 'logger'>,
  store: Store,
  router: Client<typeof GenerationService>,
): ResponseCache | undefined {
  const { enabled, ttlMs, lockTtlMs } = config.cache;
  rt.logger.info('response cache', { enabled, ttl_s: ttlMs / 1000, lock_ms: lockTtlMs });
  if (!enabled) return undefined;
  let failing = false;
  return new StoreResponseCache({
    store,
    ttlMs,
    lockTtlMs,
    metrics: rt.metrics,
    servedModels: async () => (await router.listServedModels({}, { timeoutMs: 2000 })).models,
    onError: (err) => {
      // Once per failure streak, not per request: the cache fails open, requests still succeed.
      if (failing) return;
      failing = true;
      setTimeout(() => (failing = false), 10_000).unref();
      rt.logger.warn('response cache unavailable; requests are generated uncached', { error: err instanceof Error ? err.message : String(err) });
    },
  });
}
