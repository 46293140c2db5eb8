import { createCounter, createHistogram, type Registry } from '@tokenmesh/metrics';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

/** Seconds; from a cached answer to a minute-long stream (the same scale as the RPC histogram). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Counts one REST request once it is over; `route` is a known path or `unmatched` (bounded labels). */
export type RestRequestObserver = (req: HttpRequest, res: HttpResponse, route: string) => void;

/**
 * REST requests bypass the RPC interceptors, so they get their own counter and latency
 * histogram: `tokenmesh_gateway_http_requests_total{route, method, status}` and
 * `tokenmesh_gateway_http_request_duration_seconds{route, method, status}`, observed when the
 * response ends (a stream: its last event). A client that leaves first is counted with status
 * `aborted`: the code it was sent (200 for a stream) says nothing about how it ended.
 */
export function restMetrics(registry: Registry): RestRequestObserver {
  const labelNames = ['route', 'method', 'status'] as const;
  const requests = createCounter(registry, { name: 'gateway_http_requests_total', help: 'REST requests answered, by route, method and status', labelNames });
  const duration = createHistogram(registry, {
    name: 'gateway_http_request_duration_seconds',
    help: 'REST request duration until the response ended (a stream: its last event), by route, method and status',
    labelNames,
    buckets: DURATION_BUCKETS,
  });
  return (req, res, route) => {
    const start = performance.now();
    // 'close' comes once either way, after 'finish' when the response was written in full.
    res.once('close', () => {
      const labels = { route, method: req.method ?? 'GET', status: res.writableFinished ? String(res.statusCode) : 'aborted' };
      requests.inc(labels);
      duration.observe(labels, (performance.now() - start) / 1000);
    });
  };
}
