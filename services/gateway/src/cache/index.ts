export { CacheEntries, entryKey } from './cache-entries';
export { CACHE_FORMAT, cacheKey, canonicalJson } from './cache-key';
export { StoreResponseCache } from './response-cache';
export { resolveModel, type ServedModelInfo } from './served-versions';
