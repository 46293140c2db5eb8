import type { Registry } from 'prom-client';

/** The parts of an HTTP/1.1 or HTTP/2 compatibility request the handler reads. */
export interface MetricsRequest {
  method?: string | undefined;
}

/** The parts of an HTTP/1.1 or HTTP/2 compatibility response the handler writes. */
export interface MetricsResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(): unknown;
  end(body: string): unknown;
}

/** The exposition text of `registry` and the content type Prometheus expects with it. */
export async function renderMetrics(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/**
 * A request handler for `GET /metrics` (HEAD too) that renders `registry`. Mount it on a path;
 * it does not look at the URL. A failing collector answers 500 rather than crashing the server.
 */
export function metricsHandler(registry: Registry): (req: MetricsRequest, res: MetricsResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    renderMetrics(registry).then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType });
        if (req.method === 'HEAD') res.end();
        else res.end(body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  };
}
