import { BATCH_JOBS_STREAM, BATCH_LINES_STREAM, BATCH_STREAMS, BatchStore, FILES_BUCKET, FileStore } from '@tokenmesh/batch';
import { type Bus, connectBus, type Consumption } from '@tokenmesh/bus';
import { type RunningService, type ServiceRuntime, startService } from '@tokenmesh/server';

import { BatchCache } from './batch-cache';
import { batchMetrics, RUNNERS } from './batch-metrics';
import type { BatchConfig } from './config';
import { expandBatch } from './expander';
import { finalizeIfDone } from './finalizer';
import { gatewayCall } from './gateway-call';
import { runLine } from './line-runner';

export interface BatchDeps {
  /** Shared with other services in one process (npm start); owned by the caller. */
  readonly bus?: Bus;
}

/**
 * The batch lane: expands created batches into lines (durable consumer `batch-expander`) and
 * runs lines through the gateway (durable consumer `batch-runners`, shared by every replica:
 * scale by starting more). Nothing is kept in this process: kill it at any point and another
 * (or the same, restarted) carries on where the streams say.
 */
export async function start(config: BatchConfig, rt: ServiceRuntime, deps: BatchDeps = {}): Promise<RunningService> {
  const owned = deps.bus ? undefined : await connectBus(config.natsUrl, { name: 'batch' });
  const bus = deps.bus ?? owned!;
  const consumptions: Consumption[] = [];
  const release = async () => {
    await Promise.all(consumptions.map((c) => c.stop()));
    await owned?.close();
  };
  try {
    for (const s of BATCH_STREAMS) await bus.ensureStream(s);
    const batches = new BatchStore(bus);
    const files = new FileStore(() => bus.objectBucket(FILES_BUCKET));
    const metrics = batchMetrics(rt.metrics, bus, batches);
    const cache = new BatchCache(batches);
    const finalize = (batchId: string) => finalizeIfDone({ bus, batches, cache, files, logger: rt.logger }, batchId);
    consumptions.push(
      await bus.consume(
        BATCH_JOBS_STREAM.name,
        'batch-expander',
        (m) => expandBatch({ bus, batches, files, logger: rt.logger, maxLines: config.maxLines }, m),
        {
          ackWaitMs: 60_000,
        },
      ),
    );
    const call = gatewayCall({ gatewayUrl: config.gatewayUrl, priority: config.priority, ...(config.gatewayToken && { token: config.gatewayToken }) });
    const runner = {
      bus,
      batches: cache,
      call,
      maxAttempts: config.maxAttempts,
      requestTimeoutMs: config.requestTimeoutMs,
      ackWaitMs: config.lineAckWaitMs,
      lineDone: finalize,
      metrics,
      tracer: rt.tracer,
      logger: rt.logger,
    };
    consumptions.push(
      await bus.consume(BATCH_LINES_STREAM.name, RUNNERS, (m) => runLine(runner, m), { concurrency: config.concurrency, ackWaitMs: config.lineAckWaitMs }),
    );
  } catch (err) {
    await release();
    throw err;
  }
  rt.logger.info('batch lane', { bus: deps.bus ? 'shared' : config.natsUrl ? 'nats' : 'memory', gateway: config.gatewayUrl, concurrency: config.concurrency });
  return startService({ name: 'batch', listen: config, routes: () => undefined, release }, rt);
}
