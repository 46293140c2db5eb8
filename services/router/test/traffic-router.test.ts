import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { createMetrics, metricSum } from '@tokenmesh/metrics';
import { GenerationService } from '@tokenmesh/proto';
import { waitFor } from '@tokenmesh/testing';

import { createBalancer } from '../src/balancers';
import { RetryBudget } from '../src/pool';
import { RouterMetrics } from '../src/router-metrics';
import { ShadowRunner, TrafficRouter, VARIANT_HEADER } from '../src/routing';
import { routerService } from '../src/service';
import { parseTrafficConfig, SplitPlan } from '../src/traffic';
import { beat, fakePool, type FakeWorkers } from './fake-workers';

type Impl = Partial<ServiceImpl<typeof GenerationService>>;

/** Streams the prompt back one token per message, tagged with the worker's name. */
const echo = (name: string, calls: string[] = []): Impl => ({
  async *generate(req) {
    calls.push(name);
    for (const id of req.promptTokenIds) yield { tokenIds: [id], workerId: name, model: req.model };
  },
});

const failing = (code: Code, afterTokens = 0, calls: string[] = [], name = 'bad'): Impl => ({
  async *generate(req) {
    calls.push(name);
    for (const id of req.promptTokenIds.slice(0, afterTokens)) yield { tokenIds: [id], workerId: name };
    throw new ConnectError('worker broke', code);
  },
});

function setup(workers: FakeWorkers, opts: { plan?: string; announce?: Record<string, string[]>; budget?: RetryBudget } = {}) {
  const pool = fakePool(workers);
  for (const id of Object.keys(workers)) pool.announce(beat(id, opts.announce?.[id]));
  const registry = createMetrics('router');
  const metrics = new RouterMetrics(registry, pool);
  const plan = opts.plan ? new SplitPlan(parseTrafficConfig(opts.plan, 'test.yaml')) : undefined;
  const shadows = new ShadowRunner({ pool, balancer: createBalancer('p2c'), metrics });
  const router = new TrafficRouter({ pool, defaultStrategy: 'round-robin', plan: () => plan, metrics, budget: opts.budget, shadows });
  const client = createClient(
    GenerationService,
    createRouterTransport((r) => r.service(GenerationService, routerService(pool, router))),
  );
  return { pool, registry, client, shadows, budget: opts.budget };
}

async function collect(stream: AsyncIterable<{ tokenIds: number[]; workerId: string; variant: string }>) {
  const tokens: number[] = [];
  const workers = new Set<string>();
  const variants = new Set<string>();
  try {
    for await (const m of stream) {
      tokens.push(...m.tokenIds);
      workers.add(m.workerId);
      variants.add(m.variant);
    }
    return { tokens, workers: [...workers], variants: [...variants], error: undefined };
  } catch (e) {
    return { tokens, workers: [...workers], variants: [...variants], error: ConnectError.from(e) };
  }
}

describe('traffic router', () => {
  it('sends every call of a choice group to the worker its first call went to; other calls balance as before', async () => {
    const calls: string[] = [];
    const { client } = setup({ a: echo('a', calls), b: echo('b', calls), c: echo('c', calls) });
    const grouped = await Promise.all(
      [0, 1, 2, 3].map((j) => collect(client.generate({ model: 'tinygpt', promptTokenIds: [j], choiceGroup: 'req-9/0', choiceGroupSize: 4 }))),
    );
    expect(new Set(grouped.flatMap((r) => r.workers)).size).toBe(1);
    calls.length = 0;
    for (let j = 0; j < 3; j++) await collect(client.generate({ model: 'tinygpt', promptTokenIds: [j] }));
    // Round-robin without a group: three workers in turn.
    expect(new Set(calls).size).toBe(3);
  });

  it('retries a failure before the first token once on another worker', async () => {
    const calls: string[] = [];
    const { client, registry } = setup({ a: failing(Code.Unavailable, 0, calls, 'a'), b: echo('b', calls) });
    const r = await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1, 2, 3] }));
    expect(r.error).toBeUndefined();
    expect(r.tokens).toEqual([1, 2, 3]);
    expect(calls).toEqual(['a', 'b']);
    expect(await metricSum(registry, 'tokenmesh_router_worker_retries_total', { worker: 'a' })).toBe(1);
    expect(await metricSum(registry, 'tokenmesh_router_worker_failures_total', { worker: 'a' })).toBe(1);
  });

  it('ends a stream that already carried tokens with UNAVAILABLE, never splicing another worker in', async () => {
    const calls: string[] = [];
    const { client } = setup({ a: failing(Code.Internal, 2, calls, 'a'), b: echo('b', calls) });
    const r = await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1, 2, 3, 4] }));
    expect(r.tokens).toEqual([1, 2]);
    expect(r.workers).toEqual(['a']);
    expect(r.error?.code).toBe(Code.Unavailable);
    expect(r.error?.rawMessage).toMatch(/worker a failed after 2 streamed messages/);
    expect(calls).toEqual(['a']);
  });

  it("does not retry the caller's own mistakes", async () => {
    const calls: string[] = [];
    const { client } = setup({ a: failing(Code.InvalidArgument, 0, calls, 'a'), b: failing(Code.InvalidArgument, 0, calls, 'b') });
    const r = await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }));
    expect(r.error?.code).toBe(Code.InvalidArgument);
    expect(calls.length).toBe(1);
  });

  it('retries at most once, and only within the retry budget', async () => {
    const calls: string[] = [];
    const workers = { a: failing(Code.Unavailable, 0, calls, 'a'), b: failing(Code.Unavailable, 0, calls, 'b'), c: failing(Code.Unavailable, 0, calls, 'c') };
    const { client } = setup(workers, { budget: new RetryBudget(0.2, 10_000, 1) });
    const first = await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }));
    expect(first.error?.code).toBe(Code.Unavailable);
    expect(calls.length).toBe(2);
    // The minimum of one retry is spent and one request allows no more: no retry this time.
    calls.length = 0;
    await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }));
    expect(calls.length).toBe(1);
  });

  it('ejects a worker after 5 consecutive failures and stops sending to it', async () => {
    const calls: string[] = [];
    const { client, pool, registry } = setup(
      { a: failing(Code.Unavailable, 0, calls, 'a'), b: echo('b', calls), c: echo('c', calls), d: echo('d', calls) },
      { budget: new RetryBudget(0.2, 10_000, 100) },
    );
    for (let i = 0; i < 24; i++) expect((await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }))).error).toBeUndefined();
    expect(calls.filter((c) => c === 'a').length).toBe(5);
    expect(pool.excluded(pool.get('a')!)).toBe('ejected');
    expect(await metricSum(registry, 'tokenmesh_router_worker_ejections_total', { worker: 'a' })).toBe(1);
  });

  it('answers NOT_FOUND for a model no worker serves and UNAVAILABLE when its workers are all out', async () => {
    const { client, pool } = setup({ a: echo('a') });
    expect((await collect(client.generate({ model: 'nope', promptTokenIds: [1] }))).error?.code).toBe(Code.NotFound);
    pool.announce(beat('a', ['tinygpt@1'], { draining: true }));
    const r = await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }));
    expect(r.error?.code).toBe(Code.Unavailable);
    expect(r.error?.metadata.get('retry-after')).toBe('1');
  });

  it('answers UNAVAILABLE with a retry hint, never NOT_FOUND, for a model whose workers have all gone', async () => {
    const { client, pool } = setup({ a: echo('a') });
    pool.remove('a');
    const r = await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }));
    expect(r.error?.code).toBe(Code.Unavailable);
    expect(r.error?.metadata.get('retry-after')).toBe('1');
    expect((await collect(client.generate({ model: 'tinygpt@1', promptTokenIds: [1] }))).error?.code).toBe(Code.Unavailable);
    // Only a model no worker ever served is unknown.
    expect((await collect(client.generate({ model: 'tinygpt@2', promptTokenIds: [1] }))).error?.code).toBe(Code.NotFound);
  });

  it('does not retry RESOURCE_EXHAUSTED on a worker known to be full, nor spend the retry budget on it', async () => {
    const calls: string[] = [];
    const budget = new RetryBudget(0, 10_000, 1);
    const { client, registry, pool } = setup(
      { a: failing(Code.ResourceExhausted, 0, calls, 'a'), b: failing(Code.ResourceExhausted, 0, calls, 'b') },
      { budget },
    );
    pool.markFull(pool.get('b')!);
    const r = await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }));
    expect(r.error?.code).toBe(Code.ResourceExhausted);
    // b said it was full, so a got the call; a turned it away too: the caller hears at once.
    expect(calls).toEqual(['a']);
    expect(await metricSum(registry, 'tokenmesh_router_worker_retries_total')).toBe(0);
    // Both full: every further call is one attempt.
    for (let i = 0; i < 3; i++) expect((await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }))).error?.code).toBe(Code.ResourceExhausted);
    expect(calls.length).toBe(4);
    expect(budget.tryRetry()).toBe(true);
  });

  it('retries RESOURCE_EXHAUSTED on a worker with room, and sends later calls there first', async () => {
    const calls: string[] = [];
    const { client, pool } = setup({ a: failing(Code.ResourceExhausted, 0, calls, 'a'), b: echo('b', calls) });
    pool.announce(beat('a', ['tinygpt@1'], { running: 4 }));
    expect((await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }))).workers).toEqual(['b']);
    expect(calls).toEqual(['a', 'b']);
    expect(pool.isFull(pool.get('a')!)).toBe(true);
    calls.length = 0;
    for (let i = 0; i < 4; i++) expect((await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1] }))).error).toBeUndefined();
    expect(calls).toEqual(['b', 'b', 'b', 'b']);
    // A heartbeat with the queue it refused at says nothing new; a shorter one means room again.
    pool.announce(beat('a', ['tinygpt@1'], { running: 3, waiting: 1 }));
    expect(pool.isFull(pool.get('a')!)).toBe(true);
    pool.announce(beat('a', ['tinygpt@1'], { running: 3, waiting: 0 }));
    expect(pool.isFull(pool.get('a')!)).toBe(false);
  });

  it('counts a connection the worker dropped mid-stream as unavailable, as the caller is told, not canceled', async () => {
    const { client, registry } = setup({ a: failing(Code.Canceled, 1, [], 'a') });
    const r = await collect(client.generate({ model: 'tinygpt', promptTokenIds: [1, 2] }));
    expect(r.error?.code).toBe(Code.Unavailable);
    expect(await metricSum(registry, 'tokenmesh_router_worker_requests_total', { worker: 'a', code: 'unavailable' })).toBe(1);
    expect(await metricSum(registry, 'tokenmesh_router_worker_requests_total', { worker: 'a', code: 'canceled' })).toBe(0);
  });

  const SPLIT = `
models:
  tinygpt:
    variants:
      - { name: stable, model: tinygpt@1, weight: 90 }
      - { name: candidate, model: tinygpt@2, weight: 10, canary: true }
`;

  it('splits between LoRA adapters like between versions: each variant goes to the workers that hold its adapter', async () => {
    const plan = `
models:
  assistant:
    variants:
      - { name: chat, model: tinygpt-chat@1, weight: 50 }
      - { name: jargon, model: tinygpt-jargon@1, weight: 50 }
`;
    const { client } = setup({ a: echo('a'), b: echo('b') }, { plan, announce: { a: ['tinygpt@1', 'tinygpt-chat@1'], b: ['tinygpt@1', 'tinygpt-jargon@1'] } });
    const got = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const r = await collect(client.generate({ model: 'assistant', routingKey: `user-${i}`, promptTokenIds: [1] }));
      expect(r.error).toBeUndefined();
      const [variant] = r.variants;
      expect([variant, r.workers]).toEqual(variant === 'chat' ? ['chat', ['a']] : ['jargon', ['b']]);
      got.set(variant!, (got.get(variant!) ?? 0) + 1);
    }
    expect(got.get('chat')).toBeGreaterThan(25);
    expect(got.get('jargon')).toBeGreaterThan(25);
  });

  it('sends each variant to its own workers and returns the variant in the field and the header', async () => {
    const { client } = setup({ v1: echo('v1'), v2: echo('v2') }, { plan: SPLIT, announce: { v1: ['tinygpt@1'], v2: ['tinygpt@2'] } });
    const seen = new Map<string, string>();
    for (let i = 0; i < 200; i++) {
      let header: string | null = null;
      const r = await collect(
        client.generate({ model: 'tinygpt', routingKey: `user-${i}`, promptTokenIds: [1] }, { onHeader: (h) => (header = h.get(VARIANT_HEADER)) }),
      );
      expect(r.error).toBeUndefined();
      expect(r.variants).toEqual([header]);
      expect(r.workers).toEqual([r.variants[0] === 'stable' ? 'v1' : 'v2']);
      seen.set(`user-${i}`, r.variants[0]!);
    }
    const candidates = [...seen.values()].filter((v) => v === 'candidate').length;
    expect(candidates).toBeGreaterThan(5);
    expect(candidates).toBeLessThan(40);
    // Sticky: the same users get the same variants again.
    for (const [key, variant] of [...seen].slice(0, 50))
      expect((await collect(client.generate({ model: 'tinygpt', routingKey: key, promptTokenIds: [1] }))).variants).toEqual([variant]);
    // Naming a version bypasses the split.
    expect((await collect(client.generate({ model: 'tinygpt@2', routingKey: 'user-1', promptTokenIds: [1] }))).workers).toEqual(['v2']);
  });

  it('falls back to the stable variant when the canary fails before its first token or has no worker', async () => {
    const calls: string[] = [];
    const { client, pool } = setup(
      { v1: echo('v1', calls), v2: failing(Code.Unavailable, 0, calls, 'v2') },
      { plan: SPLIT.replace('weight: 90', 'weight: 0.0001'), announce: { v1: ['tinygpt@1'], v2: ['tinygpt@2'] } },
    );
    const r = await collect(client.generate({ model: 'tinygpt', routingKey: 'k', promptTokenIds: [7] }));
    expect(r.error).toBeUndefined();
    expect(r.variants).toEqual(['stable']);
    expect(calls).toEqual(['v2', 'v1']);
    pool.announce(beat('v2', ['tinygpt@2'], { draining: true }));
    calls.length = 0;
    expect((await collect(client.generate({ model: 'tinygpt', routingKey: 'k', promptTokenIds: [7] }))).variants).toEqual(['stable']);
    expect(calls).toEqual(['v1']);
  });

  it('mirrors shadow traffic without showing it to the caller or failing the primary', async () => {
    const shadowCalls: string[] = [];
    const plan = `
models:
  tinygpt:
    variants: [{ name: main, model: tinygpt@1, weight: 1 }]
    shadow: { model: tinygpt@2, percent: 100 }
`;
    const slowFail: Impl = {
      async *generate(req) {
        shadowCalls.push(req.requestId);
        yield { tokenIds: [999], workerId: 'shadow' };
        await new Promise((r) => setTimeout(r, 20));
        throw new ConnectError('shadow broke', Code.Internal);
      },
    };
    const { client, registry, shadows } = setup({ v1: echo('v1'), v2: slowFail }, { plan, announce: { v1: ['tinygpt@1'], v2: ['tinygpt@2'] } });
    for (let i = 0; i < 5; i++) {
      const r = await collect(client.generate({ requestId: `r${i}`, model: 'tinygpt', routingKey: `k${i}`, promptTokenIds: [1, 2] }));
      expect(r.error).toBeUndefined();
      expect(r.tokens).toEqual([1, 2]);
      expect(r.workers).toEqual(['v1']);
    }
    // Shadows finish on their own time, after the callers got their answers.
    await waitFor(() => shadows.active === 0);
    expect(shadowCalls.sort()).toEqual(['r0.shadow', 'r1.shadow', 'r2.shadow', 'r3.shadow', 'r4.shadow']);
    expect(await metricSum(registry, 'tokenmesh_router_shadow_requests_total', { model: 'tinygpt@2', outcome: 'error' })).toBe(5);
    expect(await metricSum(registry, 'tokenmesh_router_shadow_tokens_total', { model: 'tinygpt@2' })).toBe(5);
  });

  it("cancels the worker's call when the caller cancels", async () => {
    let workerSignal: AbortSignal | undefined;
    const slow: Impl = {
      async *generate(_req, ctx) {
        workerSignal = ctx.signal;
        for (let i = 0; i < 1000; i++) {
          yield { tokenIds: [i] };
          await new Promise((res) => setTimeout(res, 5));
        }
      },
    };
    const { client, pool } = setup({ a: slow });
    const abort = new AbortController();
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const m of client.generate({ model: 'tinygpt', promptTokenIds: [1] }, { signal: abort.signal })) {
          seen.push(...m.tokenIds);
          if (seen.length === 3) abort.abort();
        }
      })(),
    ).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 50));
    expect(workerSignal?.aborted).toBe(true);
    expect(pool.get('a')!.inFlight).toBe(0);
    expect(pool.get('a')!.outlier.consecutiveFailures).toBe(0);
  });

  it('lists the live pool', async () => {
    const { client } = setup({ a: echo('a'), b: echo('b') }, { announce: { a: ['tinygpt@1', 'tinyllama@1'], b: ['tinygpt@1'] } });
    const { models } = await client.listServedModels({});
    expect(models.map((m) => [`${m.name}@${m.version}`, m.workers])).toEqual([
      ['tinygpt@1', 2],
      ['tinyllama@1', 1],
    ]);
  });
});
