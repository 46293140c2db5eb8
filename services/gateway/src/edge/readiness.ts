import { type HealthReporter, ServingStatus } from '@tokenmesh/server';

import type { ServedModelCatalog } from '../pipeline/served-model-catalog';

/**
 * The gateway is ready while the router's pool serves at least one model: polled, so /ready
 * and grpc.health.v1 answer instantly. The poll feeds the catalog the cache and the model lists
 * read. Returns a stop function.
 */
export function watchReadiness(catalog: ServedModelCatalog, health: HealthReporter, periodMs = 2000): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    const served = await catalog
      .refresh()
      .then((models) => models.length > 0)
      .catch(() => false);
    if (stopped || health.shuttingDown) return;
    health.setAll(served ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    timer = setTimeout(() => void poll(), served ? periodMs : Math.min(periodMs, 250));
    timer.unref();
  };
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
