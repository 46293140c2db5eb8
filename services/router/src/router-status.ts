import type { HttpHandler } from '@tokenmesh/server';

import type { WorkerPool } from './pool';

/** Where worker discovery stands: connected, disconnected, or none (static workers only). */
export type BusState = 'connected' | 'disconnected' | 'none';

/** The detail behind the router's readiness, served at `GET /status`. */
export interface RouterStatus {
  readonly bus: BusState;
  /** Workers in the pool by state: eligible, stale, draining, unhealthy, ejected. */
  readonly workers: Record<string, number>;
}

/** Counts of the pool's workers by `WorkerPool.excluded` state, 'eligible' for those taking calls. */
export function workerStates(pool: WorkerPool): Record<string, number> {
  const counts: Record<string, number> = { eligible: 0, stale: 0, draining: 0, unhealthy: 0, ejected: 0 };
  for (const w of pool.all) counts[pool.excluded(w) ?? 'eligible']!++;
  return counts;
}

/** The bus state and the pool by worker state: `/status`'s body, and the detail of `/ready`. */
export function routerStatus(pool: WorkerPool, bus: () => BusState): RouterStatus {
  return { bus: bus(), workers: workerStates(pool) };
}

/**
 * `GET /status`: the bus state and the pool by worker state, so an operator (or the gateway)
 * can tell "no worker" from "no control plane". Readiness itself does not depend on the bus: the
 * router keeps serving the workers it knows while the bus is down.
 */
export function statusRoute(pool: WorkerPool, bus: () => BusState): HttpHandler {
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/status' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no route for ${req.method ?? ''} ${path ?? ''}` }));
      return;
    }
    const body = routerStatus(pool, bus);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
}
