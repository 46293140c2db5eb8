export * from './worker';
export * from './worker-pool';
export * from './outlier-detector';
export * from './retry-budget';
export * from './worker-monitor';
export * from './discovery';
