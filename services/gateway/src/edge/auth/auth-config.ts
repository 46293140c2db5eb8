import type { EnvReader } from '@tokenmesh/config';

/** Where API keys come from; `none` = every caller anonymous (development only). */
export type ApiKeysConfig = { readonly source: 'none' } | { readonly source: 'file'; readonly file: string } | { readonly source: 'redis' };

/**
 * GATEWAY_API_KEYS (none | file | redis; default file when GATEWAY_API_KEYS_FILE is set, else
 * none) and GATEWAY_API_KEYS_FILE; `redis` reads the gateway's store, so it needs REDIS_URL (the
 * URL itself is the gateway config's `redisUrl`). Problems go to `e`, naming the variable.
 */
export function apiKeysConfig(e: EnvReader): ApiKeysConfig {
  const file = e.optional('GATEWAY_API_KEYS_FILE');
  const source = e.oneOf('GATEWAY_API_KEYS', ['none', 'file', 'redis'] as const, file ? 'file' : 'none');
  if (source === 'file') {
    e.check(
      file !== undefined,
      'GATEWAY_API_KEYS=file needs GATEWAY_API_KEYS_FILE (a YAML or JSON list of {name, sha256, models?, requests_per_minute?, tokens_per_minute?})',
    );
    return file ? { source, file } : { source: 'none' };
  }
  e.check(file === undefined, `GATEWAY_API_KEYS_FILE is set (${JSON.stringify(file)}) but GATEWAY_API_KEYS=${source}: unset one of them`);
  if (source === 'redis') {
    e.check(e.optional('REDIS_URL') !== undefined, 'GATEWAY_API_KEYS=redis needs REDIS_URL (keys are read from the hash tokenmesh:apikeys)');
    return { source };
  }
  return { source: 'none' };
}
