export * from './circuit-breaker';
export * from './errors';
export { MemoryKeyspace } from './memory-keyspace';
export * from './memory-store';
export * from './redis-store';
export * from './store';
export * from './store-guard';
