import type { ServiceImpl } from '@connectrpc/connect';
import { GenerationService } from '@tokenmesh/proto';

import type { WorkerPool } from './pool';
import type { TrafficRouter } from './routing';
import type { SplitPlan } from './traffic';

/**
 * The router speaks the workers' own GenerationService, so callers cannot tell it from a worker.
 * Generate goes through the traffic router (split, strategy, retries); ListServedModels answers
 * from the live pool, so the gateway's model list is what is being served right now, each model
 * with the split variants that route to it (`plan`: the current splits).
 */
export function routerService(
  pool: WorkerPool,
  router: TrafficRouter,
  plan: () => SplitPlan | undefined = () => undefined,
): ServiceImpl<typeof GenerationService> {
  return {
    listServedModels() {
      const shares = plan()?.shares();
      const models = pool.models();
      if (!shares) return { models };
      // A variant names a version (`x@2`) or a model served under one name (an adapter).
      return { models: models.map((m) => ({ ...m, traffic: shares.get(`${m.name}@${m.version}`) ?? shares.get(m.name) ?? [] })) };
    },
    generate: (req, ctx) => router.generate(req, ctx),
  };
}
