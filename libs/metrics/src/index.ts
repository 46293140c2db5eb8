export * from './buckets';
export * from './create-metrics';
export * from './instruments';
export * from './metrics-handler';
// Re-exported so services can type their instruments without a direct prom-client dependency.
export * from './read-metric';
export type { Counter, Gauge, Histogram, Registry } from 'prom-client';
