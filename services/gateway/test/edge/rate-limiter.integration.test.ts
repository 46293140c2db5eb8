import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { createMetrics, metricSum } from '@tokenmesh/metrics';
import { FinishReason, InferenceService } from '@tokenmesh/proto';
import { MemoryStore, type RateLimitOptions, type RateLimitResult, RedisStore, type Store } from '@tokenmesh/store';
import { startRedis } from '@tokenmesh/testing';

import { inferenceService } from '../../src/api/grpc/inference-api';
import { restApi } from '../../src/api/rest/rest-api';
import { loadConfig } from '../../src/config';
import type { Caller } from '../../src/edge/edge-policy';
import { formatDuration } from '../../src/edge/rate-limit/rate-limit-headers';
import { DEFAULT_RATE_LIMIT_TIMEOUT_MS, type RateLimitSettings, StoreRateLimiter } from '../../src/edge/rate-limit/store-rate-limiter';
import type { Upstreams } from '../../src/pipeline/generate-text';
import { byteTokenizer, fakeFeedback, fakeRouter, listen } from '../fakes';

const alice: Caller = { keyName: 'alice', subject: 'key:alice' };
const bob: Caller = { keyName: 'bob', subject: 'key:bob' };
const UNLIMITED: RateLimitSettings = { requestsPerMinute: 0, tokensPerMinute: 0, failure: 'open', timeoutMs: DEFAULT_RATE_LIMIT_TIMEOUT_MS };

/** A store that counts rateLimit calls and can be made to hang or fail. */
class ProbeStore {
  calls: RateLimitOptions[] = [];
  mode: 'pass' | 'hang' | 'fail' = 'pass';
  constructor(private readonly inner: Store = new MemoryStore()) {}
  asStore(): Store {
    return new Proxy(this.inner, {
      get: (target, prop, receiver) =>
        prop === 'rateLimit'
          ? (key: string, opts: RateLimitOptions): Promise<RateLimitResult> => {
              this.calls.push(opts);
              if (this.mode === 'hang') return new Promise(() => undefined);
              if (this.mode === 'fail') return Promise.reject(new Error('connection refused'));
              return target.rateLimit(key, opts);
            }
          : Reflect.get(target, prop, receiver),
    });
  }
}

function limiter(settings: Partial<RateLimitSettings>, store: Store = new MemoryStore(), periodMs?: number) {
  const metrics = createMetrics('gateway');
  return { metrics, limiter: new StoreRateLimiter({ ...UNLIMITED, ...settings, store, metrics, ...(periodMs ? { periodMs } : {}) }) };
}

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConnectError)) throw new Error(`expected a ConnectError, got ${String(err)}`);
  return err;
}

describe('StoreRateLimiter', () => {
  it('with the defaults (unlimited) never calls the store: nothing changes for existing users', async () => {
    const probe = new ProbeStore();
    const { limiter: l } = limiter({}, probe.asStore());
    for (let i = 0; i < 100; i++) await l.admitRequest(alice);
    await l.admitTokens(alice, 1_000_000);
    l.charge(alice, 1_000_000);
    expect(probe.calls).toHaveLength(0);
  });

  it('refuses requests over the per-minute limit with RESOURCE_EXHAUSTED, retry-after and OpenAI x-ratelimit-* metadata', async () => {
    const { limiter: l, metrics } = limiter({ requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) await l.admitRequest(alice);
    const err = await refusal(l.admitRequest(alice));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/rate limit reached for key alice: 3 requests per minute; retry after 20 s/);
    expect(Object.fromEntries(err.metadata)).toEqual({
      'retry-after': '20',
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': expect.stringMatching(/^(59(\.\d+)?s|1m0s)$/),
    });
    // Another caller has its own bucket.
    await l.admitRequest(bob);
    expect(await metricSum(metrics, 'tokenmesh_gateway_rate_limited_total', { kind: 'requests' })).toBe(1);
  });

  it("a key's own limits override the defaults, 0 meaning unlimited", async () => {
    const { limiter: l } = limiter({ requestsPerMinute: 1 });
    const generous: Caller = { ...alice, limits: { requestsPerMinute: 5 } };
    const free: Caller = { ...bob, limits: { requestsPerMinute: 0 } };
    for (let i = 0; i < 5; i++) await l.admitRequest(generous);
    await expect(l.admitRequest(generous)).rejects.toMatchObject({ code: Code.ResourceExhausted });
    for (let i = 0; i < 20; i++) await l.admitRequest(free);
  });

  it('counts prompt tokens before the call and refuses a prompt that does not fit', async () => {
    const { limiter: l, metrics } = limiter({ tokensPerMinute: 100 });
    await l.admitTokens(alice, 60);
    const err = await refusal(l.admitTokens(alice, 60));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.metadata.get('x-ratelimit-remaining-tokens')).toBe('40');
    expect(err.metadata.get('x-ratelimit-limit-tokens')).toBe('100');
    // 20 more tokens must refill at 100 a minute: 12 s.
    expect(err.metadata.get('retry-after')).toBe('12');
    await l.admitTokens(alice, 40);
    expect(await metricSum(metrics, 'tokenmesh_gateway_rate_limited_total', { kind: 'tokens' })).toBe(1);
  });

  it('refuses for good (no retry-after) a prompt larger than the whole per-minute budget', async () => {
    const { limiter: l } = limiter({ tokensPerMinute: 100 });
    const err = await refusal(l.admitTokens(alice, 101));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/prompt has 101 tokens, the limit is 100 tokens per minute/);
    expect(err.metadata.get('retry-after')).toBeNull();
  });

  it('charges generated tokens into debt: the next request is refused before its prompt is even counted', async () => {
    const probe = new ProbeStore();
    const { limiter: l } = limiter({ requestsPerMinute: 100, tokensPerMinute: 100 }, probe.asStore());
    await l.admitRequest(alice);
    await l.admitTokens(alice, 10);
    for (let i = 0; i < 150; i++) l.charge(alice, 1);
    await l.settled();
    // One charge in flight at a time; the rest were added up while it was: far fewer store calls.
    const charges = probe.calls.filter((c) => c.force);
    expect(charges.reduce((s, c) => s + c.cost!, 0)).toBe(150);
    expect(charges.length).toBeLessThan(10);
    const err = await refusal(l.admitRequest(alice));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/100 tokens per minute/);
    // 160 tokens taken of 100: 60 over the burst at 0.6 s each, 36 s.
    expect(err.metadata.get('retry-after')).toBe('36');
    expect(err.metadata.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(err.metadata.get('x-ratelimit-remaining-requests')).toBe('98');
  });

  it('refills: a refused caller is admitted again after retry-after (short window)', async () => {
    // A 600 ms window: one request refills every 300 ms.
    const { limiter: l } = limiter({ requestsPerMinute: 2 }, new MemoryStore(), 600);
    await l.admitRequest(alice);
    await l.admitRequest(alice);
    await expect(l.admitRequest(alice)).rejects.toMatchObject({ code: Code.ResourceExhausted });
    await new Promise((r) => setTimeout(r, 310));
    await l.admitRequest(alice);
  });

  describe('when the store does not answer', () => {
    it('the default decision deadline is 50 ms (GATEWAY_RATE_LIMIT_TIMEOUT_MS), failing open by default', () => {
      expect(DEFAULT_RATE_LIMIT_TIMEOUT_MS).toBe(50);
      expect(loadConfig({}).rateLimit).toEqual({ requestsPerMinute: 0, tokensPerMinute: 0, failure: 'open', timeoutMs: 50 });
    });

    it('fails open: a hung store is given up on by the timeout and the request allowed, counted as a store error', async () => {
      const probe = new ProbeStore();
      const { limiter: l, metrics } = limiter({ requestsPerMinute: 1, tokensPerMinute: 10 }, probe.asStore());
      probe.mode = 'hang';
      const t0 = performance.now();
      await l.admitRequest(alice);
      await l.admitTokens(alice, 5);
      console.log(
        `fail-open decisions with a hung store: ${(performance.now() - t0).toFixed(1)} ms for two (deadline ${DEFAULT_RATE_LIMIT_TIMEOUT_MS} ms each)`,
      );
      expect(await metricSum(metrics, 'tokenmesh_gateway_rate_limit_store_errors_total', { reason: 'timeout' })).toBe(3);
      probe.mode = 'fail';
      await l.admitRequest(alice);
      expect(await metricSum(metrics, 'tokenmesh_gateway_rate_limit_store_errors_total', { reason: 'error' })).toBe(2);
      expect(await metricSum(metrics, 'tokenmesh_gateway_rate_limited_total')).toBe(0);
    });

    it('fails closed with UNAVAILABLE naming the cause, not RESOURCE_EXHAUSTED: the caller is over no limit', async () => {
      const probe = new ProbeStore();
      const { limiter: l, metrics } = limiter({ requestsPerMinute: 1, failure: 'closed' }, probe.asStore());
      probe.mode = 'hang';
      const err = await refusal(l.admitRequest(alice));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toBe(
        'rate limiter unavailable: its store did not answer within 50 ms, and GATEWAY_RATE_LIMIT_FAILURE=closed refuses requests until it answers',
      );
      probe.mode = 'fail';
      expect((await refusal(l.admitRequest(alice))).rawMessage).toMatch(/its store failed/);
      expect(await metricSum(metrics, 'tokenmesh_gateway_rate_limit_store_errors_total')).toBe(2);
      // Charges never throw, whatever the mode.
      l.charge(alice, 5);
      await l.settled();
    });

    it('with a real Redis stopped under it: decided by the deadline or the connection error, never hanging', async () => {
      const redis = await startRedis();
      const store = await RedisStore.connect(redis.url, { commandTimeoutMs: 1000 });
      try {
        const open = limiter({ requestsPerMinute: 5 }, store);
        const closed = limiter({ requestsPerMinute: 5, failure: 'closed' }, store);
        await open.limiter.admitRequest(alice);
        await redis.stop();
        const t0 = performance.now();
        await open.limiter.admitRequest(alice);
        const t1 = performance.now();
        const err = await refusal(closed.limiter.admitRequest(alice));
        console.log(`Redis stopped: fail-open decided in ${(t1 - t0).toFixed(1)} ms, fail-closed in ${(performance.now() - t1).toFixed(1)} ms`);
        expect(err.code).toBe(Code.Unavailable);
        expect(await metricSum(open.metrics, 'tokenmesh_gateway_rate_limit_store_errors_total')).toBe(1);
        expect(await metricSum(closed.metrics, 'tokenmesh_gateway_rate_limit_store_errors_total')).toBe(1);
      } finally {
        await store.close();
        await redis.stop();
      }
    });
  });
});

describe('rate limits through the front ends', () => {
  // Byte tokens; the worker streams `max_tokens` tokens, one per message.
  const tokenizer = byteTokenizer();
  const router = fakeRouter(async function* (req) {
    const n = req.sampling?.maxTokens ?? 1;
    for (let i = 0; i < n; i++) yield { tokenIds: [97], finishReason: i === n - 1 ? FinishReason.LENGTH : FinishReason.UNSPECIFIED };
  });
  const feedback = fakeFeedback();
  let http: Awaited<ReturnType<typeof listen>>;
  let base: string;
  let l: StoreRateLimiter;

  beforeAll(async () => {
    l = limiter({ requestsPerMinute: 2, tokensPerMinute: 40 }).limiter;
    const upstreams: Upstreams = { tokenizer, router, defaultModel: 'tinygpt', limiter: l };
    http = await listen(restApi({ upstreams, feedback, bodyLimitBytes: 4096 }));
    base = http.base;
  });
  afterAll(() => http.close());

  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('REST: a streamed completion is charged as it streams; the next request gets 429 with Retry-After and x-ratelimit-* headers', async () => {
    const stream = await post('/v1/completions', { prompt: 'hi', max_tokens: 60, stream: true });
    expect(stream.status).toBe(200);
    // An admitted request says where the caller stands too (the prompt's 2 tokens taken).
    expect(stream.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(stream.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(stream.headers.get('x-ratelimit-limit-tokens')).toBe('40');
    expect(stream.headers.get('x-ratelimit-remaining-tokens')).toBe('38');
    expect(await stream.text()).toContain('[DONE]');
    await l.settled();
    const res = await post('/generate', { prompt: 'hi', max_tokens: 1 });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'resource_exhausted' } });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('40');
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(res.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d+(\.\d+)?s$|^1m/);
  });

  it('gRPC/Connect: RESOURCE_EXHAUSTED with the same metadata', async () => {
    // The REST caller is anonymous by address; this one is anonymous with an unknown address.
    const client = createClient(
      InferenceService,
      createRouterTransport((r) => r.service(InferenceService, inferenceService({ tokenizer, router, defaultModel: 'tinygpt', limiter: l }))),
    );
    await client.predict({ prompt: 'hi', sampling: { maxTokens: 1 } });
    await client.predict({ prompt: 'hi', sampling: { maxTokens: 1 } });
    const err = await refusal(client.predict({ prompt: 'hi', sampling: { maxTokens: 1 } }));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.metadata.get('retry-after')).toBe('30');
    expect(err.metadata.get('x-ratelimit-limit-requests')).toBe('2');
    expect(err.metadata.get('x-ratelimit-remaining-tokens')).toBe('34');
  });
});

describe('rate-limit headers and configuration', () => {
  it('writes reset durations as OpenAI does', () => {
    expect([0, 20.2, 999, 1000, 1500, 59_999, 60_000, 360_000, 3_723_500].map(formatDuration)).toEqual([
      '0ms',
      '21ms',
      '999ms',
      '1s',
      '1.5s',
      '59.999s',
      '1m0s',
      '6m0s',
      '1h2m3.5s',
    ]);
  });

  it('reads GATEWAY_RATE_LIMIT_* and names bad values', () => {
    expect(
      loadConfig({
        GATEWAY_RATE_LIMIT_RPM: '60',
        GATEWAY_RATE_LIMIT_TPM: '10000',
        GATEWAY_RATE_LIMIT_FAILURE: 'closed',
        GATEWAY_RATE_LIMIT_TIMEOUT_MS: '20',
        REDIS_URL: 'redis://r:6379',
      }),
    ).toMatchObject({
      redisUrl: 'redis://r:6379',
      rateLimit: { requestsPerMinute: 60, tokensPerMinute: 10_000, failure: 'closed', timeoutMs: 20 },
    });
    expect(() => loadConfig({ GATEWAY_RATE_LIMIT_RPM: '-1', GATEWAY_RATE_LIMIT_FAILURE: 'maybe' })).toThrow(
      /GATEWAY_RATE_LIMIT_RPM[\s\S]*GATEWAY_RATE_LIMIT_FAILURE|GATEWAY_RATE_LIMIT_FAILURE[\s\S]*GATEWAY_RATE_LIMIT_RPM/,
    );
  });
});
