import type { ServiceImpl } from '@connectrpc/connect';
import { GenerationService } from '@tokenmesh/proto';

import type { WorkerPool } from './pool';
import type { TrafficRouter } from './routing';

/**
 * The router speaks the workers' own GenerationService, so callers cannot tell it from a worker.
 * Generate goes through the traffic router (split, strategy, retries); ListServedModels answers
 * from the live pool, so the gateway's model list is what is being served right now.
 */
export function routerService(pool: WorkerPool, router: TrafficRouter): ServiceImpl<typeof GenerationService> {
  return {
    listServedModels() {
      return { models: pool.models() };
    },
    generate: (req, ctx) => router.generate(req, ctx),
  };
}
