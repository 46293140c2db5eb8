export * from './discovery';
export * from './outlier-detector';
export * from './retry-budget';
export * from './worker';
export * from './worker-monitor';
export * from './worker-pool';
