import { collectDefaultMetrics, Registry } from 'prom-client';

/** Every tokenmesh metric name starts with this, so one Prometheus selector finds them all. */
export const METRIC_PREFIX = 'tokenmesh_';

/**
 * A fresh registry for one service, with the process and Node.js runtime metrics and a `service`
 * label on every series.
 *
 * Not prom-client's global registry: `npm start` runs several services in one process, and each
 * must declare the same metric names (e.g. `tokenmesh_rpc_requests_total`) without clashing.
 * The runtime metrics keep their standard names (`process_*`, `nodejs_*`) rather than taking the
 * prefix, so stock Node.js dashboards work unchanged; our own metrics take the prefix (see
 * `createCounter` and friends).
 */
export function createMetrics(service: string): Registry {
  if (!service) throw new Error('createMetrics: service name is required');
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
