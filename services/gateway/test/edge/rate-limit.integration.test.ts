import { resolve } from 'node:path';

import { type ServerHandle, type ServiceProcess, startGateway, startRedis, startUpstreams } from '@tokenmesh/testing';
import { Redis } from 'ioredis';

const MODEL = resolve(__dirname, '../../../../models/tinygpt');
const RPM = 5;
// Room for the RPM test's five short requests; the streamed test overdraws it.
const TPM = 50;

/**
 * Two gateway processes sharing one Redis, in front of a real tokenizer, router and inference
 * worker (processes, models/tinygpt): the limits hold across replicas. Every caller here is
 * anonymous by address (ip:127.0.0.1), so each test starts from an empty Redis.
 */
describe('rate limits shared by two gateway replicas (real Redis, real upstreams)', () => {
  let redis: ServerHandle;
  let raw: Redis;
  const procs: ServiceProcess[] = [];
  let open: ServiceProcess;
  let closed: ServiceProcess;

  const post = (gw: ServiceProcess, path: string, body: unknown) =>
    fetch(`${gw.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  // Sampled (temperature 1), so the response cache never answers for the worker.
  const generate = (gw: ServiceProcess) => post(gw, '/generate', { prompt: 'hi', max_tokens: 1, temperature: 1 });

  async function metric(gw: ServiceProcess, name: string): Promise<number> {
    const text = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  }

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url, { lazyConnect: true, retryStrategy: () => null });
    await raw.connect();
    const up = await startUpstreams({ model: MODEL });
    procs.push(...up.all);
    const gateway = (failure: string) =>
      startGateway(up, MODEL, {
        GATEWAY_CACHE: 'off',
        REDIS_URL: redis.url,
        GATEWAY_RATE_LIMIT_RPM: String(RPM),
        GATEWAY_RATE_LIMIT_TPM: String(TPM),
        GATEWAY_RATE_LIMIT_FAILURE: failure,
        // Six processes share two cores here: a 50 ms deadline (the default, held to in
        // rate-limiter.integration.test.ts) would turn a slow-but-working Redis into fail-open/closed answers
        // and make "exactly N admitted" a matter of load.
        GATEWAY_RATE_LIMIT_TIMEOUT_MS: '1000',
      }).then((p) => (procs.push(p), p));
    [open, closed] = await Promise.all([gateway('open'), gateway('closed')]);
  }, 90_000);

  beforeEach(async () => {
    if (raw.status === 'ready') await raw.flushall();
  });

  afterAll(async () => {
    if (raw?.status !== 'end') raw?.disconnect();
    await Promise.all(procs.reverse().map((p) => p.stop()));
    await redis?.stop();
  });

  it(`admit exactly ${RPM} requests per minute for one caller across both replicas`, async () => {
    const statuses: number[] = [];
    const refusals: Response[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await generate(i % 2 ? open : closed);
      statuses.push(res.status);
      if (res.status === 429) refusals.push(res);
      else await res.text();
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(RPM);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12 - RPM);
    // The burst is spent first: every refusal comes after every admission.
    expect(statuses.slice(0, RPM).every((s) => s === 200)).toBe(true);
    const res = refusals[0]!;
    expect(await res.json()).toMatchObject({
      error: { type: 'rate_limit_error', code: 'resource_exhausted', message: expect.stringMatching(/: 5 requests per minute; retry after/) },
    });
    // One request refills every 12 s, counted from the first admission (each took a generation).
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(12);
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe(String(RPM));
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe(String(TPM));
    for (const r of refusals.slice(1)) await r.text();
    expect((await metric(open, 'tokenmesh_gateway_rate_limited_total{')) + (await metric(closed, 'tokenmesh_gateway_rate_limited_total{'))).toBe(12 - RPM);
  }, 30_000);

  it('tokens per minute: a streamed completion is charged as it streams, and the next request (other replica) gets 429', async () => {
    const stream = await post(open, '/v1/completions', {
      prompt: 'hi',
      max_tokens: 100,
      temperature: 1,
      // Seeded: an unseeded sample may end at an early end-of-text, under the budget the test overdraws.
      seed: 1,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(stream.status).toBe(200);
    const text = await stream.text();
    expect(text).toContain('data: [DONE]');
    const usage = text
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)) as { usage?: { prompt_tokens: number; completion_tokens: number } })
      .find((c) => c.usage)?.usage;
    // The prompt fit the budget; what streamed overdrew it.
    expect(usage!.prompt_tokens).toBeLessThan(TPM);
    expect(usage!.prompt_tokens + usage!.completion_tokens).toBeGreaterThan(TPM + 10);
    const res = await generate(closed);
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/50 tokens per minute/);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe(String(TPM));
    expect(res.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+(\.\d+)?s|\dm[\d.]+s)$/);
  }, 30_000);

  it('with Redis stopped: GATEWAY_RATE_LIMIT_FAILURE=open allows the request, =closed answers 503', async () => {
    raw.disconnect();
    await redis.stop();
    const t0 = performance.now();
    const allowed = await generate(open);
    const t1 = performance.now();
    const refused = await generate(closed);
    console.log(
      `Redis stopped: fail-open request answered in ${(t1 - t0).toFixed(0)} ms (generation included), fail-closed refusal in ${(performance.now() - t1).toFixed(0)} ms`,
    );
    expect(allowed.status).toBe(200);
    await allowed.text();
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /^rate limiter unavailable: its store (did not answer within \d+ ms|failed), and GATEWAY_RATE_LIMIT_FAILURE=closed/,
    );
    expect(await metric(open, 'tokenmesh_gateway_rate_limit_store_errors_total{')).toBeGreaterThanOrEqual(1);
    expect(await metric(closed, 'tokenmesh_gateway_rate_limit_store_errors_total{')).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
