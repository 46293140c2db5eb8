import type { ServiceRuntime } from '@tokenmesh/server';
import { MemoryStore, RedisStore, type Store } from '@tokenmesh/store';
import type { GatewayConfig } from '../config';
import { StoreRateLimiter } from './store-rate-limiter';

/**
 * Redis commands from the limiter give up after this long, so calls to a hung Redis do not pile
 * up behind the 50 ms decisions that no longer wait for them.
 */
const COMMAND_TIMEOUT_MS = 1000;

/**
 * The gateway's limiter over `shared` (a store the supervisor shares, owned by it), else its own:
 * RedisStore at REDIS_URL (every replica sees the same buckets), else a MemoryStore (this
 * process only). `close` releases the store it opened.
 */
export async function startRateLimiter(
  config: Pick<GatewayConfig, 'redisUrl' | 'rateLimit'>,
  rt: Pick<ServiceRuntime, 'metrics' | 'logger'>,
  shared?: Store,
): Promise<{ limiter: StoreRateLimiter; close: () => Promise<void> }> {
  const owned = shared ? undefined : config.redisUrl ? await RedisStore.connect(config.redisUrl, { commandTimeoutMs: COMMAND_TIMEOUT_MS }) : new MemoryStore();
  const store = shared ?? owned!;
  const limiter = new StoreRateLimiter({ ...config.rateLimit, store, metrics: rt.metrics, logger: rt.logger });
  const { requestsPerMinute: rpm, tokensPerMinute: tpm, failure, timeoutMs } = config.rateLimit;
  rt.logger.info('rate limits', { rpm, tpm, failure, timeout_ms: timeoutMs, store: shared ? 'shared' : config.redisUrl ? 'redis' : 'memory' });
  return {
    limiter,
    close: async () => {
      await limiter.settled();
      await owned?.close();
    },
  };
}
