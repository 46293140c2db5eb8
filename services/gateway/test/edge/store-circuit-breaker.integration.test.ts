import { createMetrics, metricSum, type Registry } from '@tokenmesh/metrics';
import { FinishReason } from '@tokenmesh/proto';
import { RedisStore } from '@tokenmesh/store';
import { type ServerHandle, startRedis, waitFor } from '@tokenmesh/testing';

import { restApi } from '../../src/api/rest/rest-api';
import { startResponseCache } from '../../src/cache/start-cache';
import { loadConfig } from '../../src/config';
import { startRateLimiter } from '../../src/edge/rate-limit/start-rate-limiter';
import type { Upstreams } from '../../src/pipeline/generate-text';
import { routerCatalog } from '../../src/pipeline/served-model-catalog';
import { byteTokenizer, fakeFeedback, fakeRouter, listen } from '../fakes';

/** A logger that keeps its lines: the breaker's open and close are each told once. */
function recordingLogger() {
  const lines: string[] = [];
  const logger = {
    debug: () => undefined,
    info: (msg: string) => void lines.push(`info ${msg}`),
    warn: (msg: string) => void lines.push(`warn ${msg}`),
    error: (msg: string) => void lines.push(`error ${msg}`),
    child: () => logger,
  };
  return { logger, lines };
}

describe('store circuit breakers: the gateway keeps serving, without waiting, while Redis is stopped', () => {
  let redis: ServerHandle;
  let store: RedisStore;
  let metrics: Registry;
  let http: Awaited<ReturnType<typeof listen>>;
  let close: () => Promise<void>;
  const log = recordingLogger();

  beforeAll(async () => {
    redis = await startRedis();
    // As start.ts connects it.
    store = await RedisStore.connect(redis.url, { commandTimeoutMs: 1000 });
    // Default limits and timeouts (50 ms limiter, 250 ms cache), the default 3 failures; a short cool-down keeps the test short.
    const config = loadConfig({ REDIS_URL: redis.url, GATEWAY_RATE_LIMIT_RPM: '1000000', GATEWAY_STORE_BREAKER_COOLDOWN_MS: '250' });
    expect(config.storeBreaker).toMatchObject({ failures: 3, cooldownMs: 250 });
    metrics = createMetrics('gateway');
    const rt = { metrics, logger: log.logger };
    const router = fakeRouter(async function* (req) {
      const n = req.sampling?.maxTokens ?? 1;
      for (let i = 0; i < n; i++) yield { tokenIds: [97], finishReason: i === n - 1 ? FinishReason.LENGTH : FinishReason.UNSPECIFIED };
    });
    const limits = await startRateLimiter(config, rt, store);
    const cache = startResponseCache(config, rt, store, router, routerCatalog(router));
    const upstreams: Upstreams = { tokenizer: byteTokenizer(), router, defaultModel: 'tinygpt', limiter: limits.limiter, cache };
    http = await listen(restApi({ upstreams, feedback: fakeFeedback(), bodyLimitBytes: 4096 }));
    close = async () => {
      await http.close();
      await limits.close();
    };
  });

  afterAll(async () => {
    await close?.();
    await store?.close();
    await redis?.stop();
  });

  /** A deterministic request (cacheable: the version is named, temperature 0); its status and cache outcome. */
  const generate = async (prompt: string) => {
    const res = await fetch(`${http.base}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tinygpt@1', prompt, max_tokens: 2, temperature: 0 }),
    });
    await res.text();
    return { status: res.status, cache: res.headers.get('x-tokenmesh-cache') };
  };
  const open = (dependency: string) => metricSum(metrics, 'tokenmesh_store_circuit_open', { dependency });
  const skipped = (dependency: string) => metricSum(metrics, 'tokenmesh_store_calls_skipped_total', { dependency });
  const failures = (dependency: string) => metricSum(metrics, 'tokenmesh_store_call_failures_total', { dependency });
  const limiterTimeouts = () => metricSum(metrics, 'tokenmesh_gateway_rate_limit_store_errors_total', { reason: 'timeout' });
  const DEPS = ['rate_limit', 'response_cache'];

  it('opens each circuit after the first failures, skips the store while open, and a probe closes it once Redis is back', async () => {
    expect([await generate('before'), await generate('before')]).toEqual([
      { status: 200, cache: 'miss' },
      { status: 200, cache: 'hit' },
    ]);
    expect(await Promise.all(DEPS.map(open))).toEqual([0, 0]);

    await redis.kill('SIGTERM');
    // The first requests pay the deadlines until the failures add up; every one is served.
    let n = 0;
    await waitFor(
      async () => {
        expect(await generate(`down ${n++}`)).toEqual({ status: 200, cache: 'miss' });
        return (await Promise.all(DEPS.map(open))).every((v) => v === 1);
      },
      { timeoutMs: 20_000, intervalMs: 1 },
    );
    expect(n).toBeLessThanOrEqual(3);
    expect(log.lines.filter((l) => l.startsWith('warn rate-limit store failing'))).toHaveLength(1);
    expect(log.lines.filter((l) => l.startsWith('warn response cache unavailable'))).toHaveLength(1);

    // While open: requests are served without asking the store; at most a probe per cool-down
    // reaches it (and fails), not one call per request.
    const N = 20;
    const before = { skipped: await Promise.all(DEPS.map(skipped)), failures: await Promise.all(DEPS.map(failures)), timeouts: await limiterTimeouts() };
    for (let i = 0; i < N; i++) expect(await generate(`open ${i}`)).toEqual({ status: 200, cache: 'miss' });
    const skippedNow = await Promise.all(DEPS.map(skipped));
    const failuresNow = await Promise.all(DEPS.map(failures));
    const [limiterSkipped, cacheSkipped] = skippedNow.map((v, i) => v - before.skipped[i]!);
    const [limiterFailed, cacheFailed] = failuresNow.map((v, i) => v - before.failures[i]!);
    // One limiter decision per request: skipped, or a (failed) probe.
    expect(limiterSkipped! + limiterFailed!).toBe(N);
    expect(limiterFailed).toBeLessThan(N / 2);
    expect((await limiterTimeouts()) - before.timeouts).toBe(limiterFailed);
    // The cache asks for the entry, the lock and the write per request: all skipped but probes.
    expect(cacheSkipped).toBeGreaterThanOrEqual(N);
    expect(cacheFailed).toBeLessThan(N / 2);
    expect(await Promise.all(DEPS.map(open))).toEqual([1, 1]);

    // Redis back on the same address: the next probe after a cool-down closes each circuit.
    // The same port: the gateway's client reconnects to the address it knows.
    await redis.restart();
    let m = 0;
    await waitFor(
      async () => {
        expect((await generate(`back ${m++}`)).status).toBe(200);
        return (await Promise.all(DEPS.map(open))).every((v) => v === 0);
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(log.lines.filter((l) => l === 'info rate-limit store answering again')).toHaveLength(1);
    expect(log.lines.filter((l) => l === 'info response cache answering again')).toHaveLength(1);
    // The cache stores and answers again.
    expect([await generate('after'), await generate('after')]).toEqual([
      { status: 200, cache: 'miss' },
      { status: 200, cache: 'hit' },
    ]);
  }, 60_000);
});
