import { FeedbackService } from '@tokenmesh/proto';
import { startService, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import { MemoryStore, RedisStore, type Store } from '@tokenmesh/store';
import { FeedbackAggregates } from './aggregates';
import type { FeedbackConfig } from './config';
import { feedbackService } from './service';

export interface FeedbackDeps {
  /** A store shared with other services in one process (npm start); owned by the caller. */
  readonly store?: Store;
}

/** Serves FeedbackService on Redis (REDIS_URL), a given store, or an in-memory store. */
export async function start(config: FeedbackConfig, rt: ServiceRuntime, deps: FeedbackDeps = {}): Promise<RunningService> {
  const owned = deps.store ? undefined : config.redisUrl ? await RedisStore.connect(config.redisUrl) : new MemoryStore();
  const store = deps.store ?? owned!;
  rt.logger.info('feedback store', { store: deps.store ? 'shared' : config.redisUrl ? 'redis' : 'memory' });
  return startService(
    {
      name: 'feedback',
      listen: config,
      routes: (r) => r.service(FeedbackService, feedbackService(new FeedbackAggregates(store))),
      release: () => owned?.close(),
    },
    rt,
  );
}
