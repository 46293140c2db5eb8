export { CacheEntries, entryKey, lockKey } from './cache-entries';
export { CACHE_FORMAT, cacheKey, canonicalJson, type ResolvedKey } from './cache-key';
export { CacheMetrics } from './cache-metrics';
export { Flight, type FlightSource } from './flight';
export { StoreResponseCache, type StoreResponseCacheOptions } from './response-cache';
export { resolveModel, type ModelResolution, type ServedModelInfo } from './served-versions';
