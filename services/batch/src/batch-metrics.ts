import { BATCH_LINES_STREAM } from '@tokenmesh/batch';
import { type Bus, consumerLagGauge } from '@tokenmesh/bus';
import { createCounter, createGauge, type Registry } from '@tokenmesh/metrics';

export const RUNNERS = 'batch-runners';

export interface BatchMetrics {
  readonly lines: { inc(labels: { outcome: string }): void };
  readonly retries: { inc(): void };
  readonly running: { inc(): void; dec(): void };
}

/**
 * Lines by outcome, retries and lines running in this process; lines queued (the runners'
 * consumer lag: not yet delivered or not yet acked, over every runner), asked at each scrape.
 */
export function batchMetrics(registry: Registry, bus: Bus): BatchMetrics {
  const lines = createCounter(registry, {
    name: 'batch_lines_total',
    help: 'Batch lines this process finished, by outcome (ok, failed, expired, cancelled)',
    labelNames: ['outcome'],
  });
  const retries = createCounter(registry, {
    name: 'batch_line_retries_total',
    help: 'Batch lines put back on the queue after a retryable failure (429, 5xx, no answer)',
  });
  const running = createGauge(registry, { name: 'batch_lines_running', help: 'Batch lines this process is running now' });
  consumerLagGauge(registry, bus, {
    name: 'batch_lines_queued',
    help: 'Batch lines waiting for a runner or running, over every runner (the shared consumer lag)',
    stream: BATCH_LINES_STREAM.name,
    durable: RUNNERS,
  });
  return { lines, retries, running };
}
