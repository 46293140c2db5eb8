import type { Logger } from '@tokenmesh/logging';
import type { Store } from '@tokenmesh/store';

import { ApiKeyAuth } from './api-key-auth';
import { fileKeySource, type KeySource, redisKeySource } from './api-keys';
import type { ApiKeysConfig } from './auth-config';

/**
 * Opens the configured key source (reads and validates the file; reads the hash from `store`, the
 * gateway's Redis store, once, so an unreachable Redis fails the start) and logs where keys come
 * from, never the keys. The store stays the caller's.
 * @throws Error naming GATEWAY_API_KEYS_FILE, or the store's error.
 */
export async function startAuth(config: ApiKeysConfig, logger: Logger, store?: Store): Promise<ApiKeyAuth> {
  let source: KeySource | undefined;
  if (config.source === 'file') source = await fileKeySource(config.file);
  if (config.source === 'redis') {
    if (!store) throw new Error("GATEWAY_API_KEYS=redis needs the gateway's Redis store (REDIS_URL)");
    source = redisKeySource(store, { logger });
    await source.lookup('');
  }
  if (source) logger.info('API keys required', { source: source.kind });
  else logger.warn('no API keys configured (GATEWAY_API_KEYS_FILE, GATEWAY_API_KEYS=redis): every caller is anonymous');
  return new ApiKeyAuth(source);
}
