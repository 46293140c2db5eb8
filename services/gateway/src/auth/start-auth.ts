import type { Logger } from '@tokenmesh/logging';
import { RedisStore } from '@tokenmesh/store';
import { ApiKeyAuth } from './api-key-auth';
import type { ApiKeysConfig } from './auth-config';
import { fileKeySource, redisKeySource, type KeySource } from './api-keys';

/**
 * Opens the configured key source (reads and validates the file; connects to Redis and reads
 * the hash once, so a bad URL fails the start) and logs where keys come from, never the keys.
 * @throws Error naming GATEWAY_API_KEYS_FILE or the Redis URL.
 */
export async function startAuth(config: ApiKeysConfig, logger: Logger): Promise<ApiKeyAuth> {
  let source: KeySource | undefined;
  if (config.source === 'file') source = await fileKeySource(config.file);
  if (config.source === 'redis') {
    const store = await RedisStore.connect(config.redisUrl);
    source = redisKeySource(store, { logger, ownsStore: true });
    await source.lookup('').catch(async (err: unknown) => {
      await source!.close();
      throw err;
    });
  }
  if (source) logger.info('API keys required', { source: source.kind });
  else logger.warn('no API keys configured (GATEWAY_API_KEYS_FILE, GATEWAY_API_KEYS=redis): every caller is anonymous');
  return new ApiKeyAuth(source);
}
