import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { bucketsUpTo, createCounter, createHistogram, createMetrics, metricsHandler, metricSum } from '../src';

describe('createMetrics', () => {
  it('gives each service its own registry, so two services in one process declare the same metric', async () => {
    const gateway = createMetrics('gateway');
    const router = createMetrics('router');
    const a = createCounter(gateway, { name: 'requests_total', help: 'Requests.', labelNames: ['route'] });
    const b = createCounter(router, { name: 'requests_total', help: 'Requests.', labelNames: ['route'] });
    a.inc({ route: '/v1/chat' }, 3);
    b.inc({ route: '/v1/chat' });

    const gw = await gateway.metrics();
    const rt = await router.metrics();
    expect(gw).toContain('tokenmesh_requests_total{route="/v1/chat",service="gateway"} 3');
    expect(rt).toContain('tokenmesh_requests_total{route="/v1/chat",service="router"} 1');
    expect(gw).not.toContain('service="router"');
    // Default process metrics are present in both, labelled per service.
    expect(gw).toMatch(/^process_cpu_user_seconds_total\{service="gateway"\} /m);
    expect(rt).toMatch(/^nodejs_heap_size_used_bytes\{service="router"\} /m);
  });

  it('refuses an empty service name', () => {
    expect(() => createMetrics('')).toThrow(/service name/);
  });
});

describe('metricsHandler', () => {
  const registry = createMetrics('tokenizer');
  const tokens = createHistogram(registry, { name: 'prompt_tokens', help: 'Prompt length.', buckets: bucketsUpTo(8) });
  const handler = metricsHandler(registry);
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('serves the registry in the Prometheus text format on GET', async () => {
    tokens.observe(5);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    expect(body).toContain('# TYPE tokenmesh_prompt_tokens histogram');
    expect(body).toContain('tokenmesh_prompt_tokens_bucket{le="4",service="tokenizer"} 0');
    expect(body).toContain('tokenmesh_prompt_tokens_bucket{le="8",service="tokenizer"} 1');
  });

  it('answers 405 to other methods', async () => {
    const res = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('bucketsUpTo', () => {
  it('grows geometrically from start and ends exactly at the limit', () => {
    expect(bucketsUpTo(2048)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]);
    expect(bucketsUpTo(100, { start: 10 })).toEqual([10, 20, 40, 80, 100]);
    expect(bucketsUpTo(0.1, { start: 0.025 })).toEqual([0.025, 0.05, 0.1]);
    expect(bucketsUpTo(30, { start: 0.1, factor: 3 })).toEqual([0.1, 0.3, 0.9, 2.7, 8.1, 24.3, 30]);
  });

  it('rejects limits and factors that cannot make buckets', () => {
    expect(() => bucketsUpTo(0)).toThrow(RangeError);
    expect(() => bucketsUpTo(10, { start: 20 })).toThrow(/start/);
    expect(() => bucketsUpTo(10, { factor: 1 })).toThrow(/factor/);
  });
});

describe('metricSum', () => {
  it('sums the samples whose labels include the given ones; 0 for none', async () => {
    const registry = createMetrics('test');
    const c = createCounter(registry, { name: 'sum_probe_total', help: 'probe', labelNames: ['worker', 'code'] as const });
    c.inc({ worker: 'a', code: 'ok' }, 2);
    c.inc({ worker: 'a', code: 'unavailable' }, 3);
    c.inc({ worker: 'b', code: 'ok' }, 5);
    expect(await metricSum(registry, 'tokenmesh_sum_probe_total')).toBe(10);
    expect(await metricSum(registry, 'tokenmesh_sum_probe_total', { worker: 'a' })).toBe(5);
    expect(await metricSum(registry, 'tokenmesh_sum_probe_total', { worker: 'a', code: 'ok' })).toBe(2);
    expect(await metricSum(registry, 'tokenmesh_sum_probe_total', { worker: 'c' })).toBe(0);
    expect(await metricSum(registry, 'tokenmesh_no_such_metric')).toBe(0);
  });
});
