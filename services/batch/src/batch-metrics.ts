import { BATCH_LINES_STREAM, type BatchStore, type LineOutcome, linesDone } from '@tokenmesh/batch';
import { type Bus, consumerLagGauge } from '@tokenmesh/bus';
import { createCounter, createGauge, type Registry } from '@tokenmesh/metrics';

import { BatchProgress } from './batch-progress';

export const RUNNERS = 'batch-runners';

export interface BatchMetrics {
  /** A line of the batch was handed to the gateway… */
  started(batchId: string): void;
  /** …and is no longer running here (answered, given up or put back). */
  stopped(batchId: string): void;
  /** A line's result was stored. */
  finished(batchId: string, outcome: LineOutcome): void;
  /** A line went back to the queue after a retryable failure. */
  retried(): void;
}

/**
 * Lines by outcome, retries and lines running in this process; lines queued (the runners'
 * consumer lag: not yet delivered or not yet acked, over every runner), asked at each scrape;
 * and per batch, while it runs, its lines by state.
 */
export function batchMetrics(registry: Registry, bus: Bus, store: BatchStore): BatchMetrics {
  const lines = createCounter(registry, {
    name: 'batch_lines_total',
    help: 'Batch lines this process finished, by outcome (ok, failed, expired, cancelled)',
    labelNames: ['outcome'],
  });
  const retries = createCounter(registry, {
    name: 'batch_line_retries_total',
    help: 'Batch lines put back on the queue after a retryable failure (429, 5xx, no answer)',
  });
  const running = createGauge(registry, { name: 'batch_lines_running', help: 'Batch lines this process is running now, by batch', labelNames: ['batch'] });
  consumerLagGauge(registry, bus, {
    name: 'batch_lines_queued',
    help: 'Batch lines waiting for a runner or running, over every runner (the shared consumer lag)',
    stream: BATCH_LINES_STREAM.name,
    durable: RUNNERS,
  });
  const progress = new BatchProgress(store);
  createGauge(registry, {
    name: 'batch_progress_lines',
    help:
      'Lines of each batch this process has run lines of, until the batch ends, by state: total, completed, failed, expired, cancelled, ' +
      'pending (no result yet: queued or running on any runner). Read from the store, the same on every replica: aggregate with max by (batch)',
    labelNames: ['batch', 'state'],
    async collect() {
      const read = await progress.read();
      if (!read) return;
      this.reset();
      for (const batch of read.ended) running.remove({ batch });
      for (const { batch, total, outcomes: o } of read.rows) {
        const states = { total, completed: o.ok, failed: o.failed, expired: o.expired, cancelled: o.cancelled };
        for (const [state, n] of Object.entries(states)) this.set({ batch, state }, n);
        this.set({ batch, state: 'pending' }, Math.max(0, total - linesDone(o)));
      }
    },
  });
  return {
    started: (batch) => {
      progress.seen(batch);
      running.inc({ batch });
    },
    stopped: (batch) => running.dec({ batch }),
    finished: (batch, outcome) => {
      progress.seen(batch);
      lines.inc({ outcome });
    },
    retried: () => retries.inc(),
  };
}
