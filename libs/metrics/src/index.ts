export * from './create-metrics';
export * from './instruments';
export * from './buckets';
export * from './metrics-handler';
// Re-exported so services can type their instruments without a direct prom-client dependency.
export type { Counter, Gauge, Histogram, Registry } from 'prom-client';
export * from './read-metric';
