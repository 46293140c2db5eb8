import { type Bus, connectBus, type Consumption, eventOutbox, EVENTS_STREAM } from '@tokenmesh/bus';
import { FeedbackService } from '@tokenmesh/proto';
import { type RunningService, type ServiceRuntime, startService } from '@tokenmesh/server';
import { MemoryStore, RedisStore, type Store } from '@tokenmesh/store';

import { FeedbackAggregates } from './aggregates';
import { consumeEvents } from './completion-consumer';
import type { FeedbackConfig } from './config';
import { consumerLagGauge } from './consumer-lag';
import { feedbackPublisher } from './feedback-events';
import { ReportKeeper } from './report-keeper';
import { feedbackService } from './service';

export interface FeedbackDeps {
  /** Shared with other services in one process (npm start); owned by the caller. */
  readonly store?: Store;
  readonly bus?: Bus;
}

/**
 * Serves FeedbackService and folds completion and feedback events into the reports, rebuilding
 * them from the events stream when the store has lost them (`ReportKeeper`). Store: the given one,
 * Redis (REDIS_URL) or in-memory; bus: the given one, NATS (NATS_URL) or in-process.
 */
export async function start(config: FeedbackConfig, rt: ServiceRuntime, deps: FeedbackDeps = {}): Promise<RunningService> {
  const ownedStore = deps.store ? undefined : config.redisUrl ? await RedisStore.connect(config.redisUrl) : new MemoryStore();
  const store = deps.store ?? ownedStore!;
  const ownedBus = deps.bus
    ? undefined
    : await connectBus(config.natsUrl, { name: 'feedback' }).catch(async (err: unknown) => {
        await ownedStore?.close();
        throw err;
      });
  const bus = deps.bus ?? ownedBus!;
  const aggregates = new FeedbackAggregates(store);
  const outbox = eventOutbox(bus, { metrics: rt.metrics, logger: rt.logger, spoolDir: config.outboxDir, name: 'feedback' });
  const keeper = new ReportKeeper({ bus, store, aggregates, logger: rt.logger, lockMs: config.rebuildLockMs, checkMs: config.rebuildCheckMs });
  let consumption: Consumption | undefined;
  let keeping: Promise<void> | undefined;
  const release = async () => {
    await consumption?.stop();
    // Before the bus closes: a rebuild in progress would fail on a closed bus and leave the lock to expire.
    await keeper.stop();
    await keeping;
    await outbox.close(); // before the bus: flushes what it can within its grace
    await ownedBus?.close();
    await ownedStore?.close();
  };
  try {
    await bus.ensureStream(EVENTS_STREAM);
    consumption = await consumeEvents(bus, aggregates, rt.tracer, rt.logger);
    consumerLagGauge(rt.metrics, bus);
    // Not awaited: a long replay must not hold back serving; reports read empty until it is done.
    keeping = keeper.start();
  } catch (err) {
    await release();
    throw err;
  }
  rt.logger.info('feedback backends', {
    store: deps.store ? 'shared' : config.redisUrl ? 'redis' : 'memory',
    bus: deps.bus ? 'shared' : config.natsUrl ? 'nats' : 'memory',
  });
  return startService(
    {
      name: 'feedback',
      listen: config,
      routes: (r) => r.service(FeedbackService, feedbackService(aggregates, { onFeedback: feedbackPublisher(outbox, rt.tracer) })),
      release,
    },
    rt,
  );
}
