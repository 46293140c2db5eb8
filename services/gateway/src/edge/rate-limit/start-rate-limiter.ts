import type { ServiceRuntime } from '@tokenmesh/server';
import type { Store } from '@tokenmesh/store';

import type { GatewayConfig } from '../../config';
import { StoreRateLimiter } from './store-rate-limiter';

/**
 * The gateway's limiter over `store` (the one the gateway shares with the response cache, owned
 * by the caller). Logs the effective limits. `close` waits for the charges in flight; it leaves
 * the store open.
 */
export async function startRateLimiter(
  config: Pick<GatewayConfig, 'rateLimit'> & Partial<Pick<GatewayConfig, 'storeBreaker'>>,
  rt: Pick<ServiceRuntime, 'metrics' | 'logger'>,
  store: Store,
): Promise<{ limiter: StoreRateLimiter; close: () => Promise<void> }> {
  const breaker = config.storeBreaker;
  const limiter = new StoreRateLimiter({ ...config.rateLimit, store, metrics: rt.metrics, logger: rt.logger, ...(breaker ? { breaker } : {}) });
  const { requestsPerMinute: rpm, tokensPerMinute: tpm, failure, timeoutMs } = config.rateLimit;
  rt.logger.info('rate limits', {
    rpm,
    tpm,
    failure,
    timeout_ms: timeoutMs,
    breaker_failures: breaker?.failures ?? 0,
    breaker_cooldown_ms: breaker?.cooldownMs,
  });
  return { limiter, close: () => limiter.settled() };
}
