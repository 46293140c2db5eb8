import { createMetrics } from '@tokenmesh/metrics';
import { FinishReason } from '@tokenmesh/proto';
import { MemoryStore } from '@tokenmesh/store';
import { waitFor } from '@tokenmesh/testing';

import { CacheEntries, cacheKey, canonicalJson, resolveModel, type ServedModelInfo, StoreResponseCache } from '../../src/cache';
import type { CacheKeyParts } from '../../src/edge/edge-policy';
import type { TextEvent } from '../../src/pipeline/generate-text';
import { ServedModelCatalog as ServedVersions } from '../../src/pipeline/served-model-catalog';

const done = (finishReason = FinishReason.LENGTH, totalMs = 1e9): TextEvent => ({
  type: 'done',
  finishReason,
  usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 },
  timings: { queueMs: 1, timeToFirstTokenMs: 2, decodeMs: 3, totalMs },
  model: 'tiny@1',
  variant: '',
});
const parts = (over: Partial<CacheKeyParts> = {}): CacheKeyParts => ({
  model: 'tiny',
  routingKey: '',
  promptTokenIds: [1, 2, 3],
  sampling: { temperature: 0, maxTokens: 8, stop: [] },
  ...over,
});

/** A controllable generation: `emit`/`end`/`fail` drive it; `signal` is the one the cache passed. */
class FakeGeneration {
  calls = 0;
  signal: AbortSignal | undefined;
  private queue: (TextEvent | Error | null)[] = [];
  private wake: (() => void) | undefined;
  readonly generate = (signal: AbortSignal): AsyncIterable<TextEvent> => {
    this.calls++;
    this.signal = signal;
    const self = this;
    return (async function* () {
      for (;;) {
        while (self.queue.length === 0) {
          if (signal.aborted) throw signal.reason;
          await new Promise<void>((r) => {
            self.wake = r;
            signal.addEventListener('abort', () => r(), { once: true });
          });
        }
        const next = self.queue.shift()!;
        if (next === null) return;
        if (next instanceof Error) throw next;
        yield next;
      }
    })();
  };
  push(...items: (TextEvent | Error | null)[]): void {
    this.queue.push(...items);
    this.wake?.();
  }
}

const collect = async (it: AsyncIterable<TextEvent>, into: TextEvent[] = []) => {
  for await (const e of it) into.push(e);
  return into;
};
const tick = () => new Promise((r) => setTimeout(r, 5));
const served: ServedModelInfo[] = [{ name: 'tiny', version: '1' }];

function newCache(store = new MemoryStore(), over: Partial<ConstructorParameters<typeof StoreResponseCache>[0]> = {}) {
  const registry = createMetrics('gateway-test');
  const cache = new StoreResponseCache({ store, ttlMs: 60_000, servedModels: async () => served, metrics: registry, lockTtlMs: 0, ...over });
  const count = async (outcome: string) =>
    (await registry.getSingleMetric('tokenmesh_gateway_cache_requests_total')!.get()).values.find((v) => v.labels['outcome'] === outcome)!.value;
  return { cache, store, count };
}

describe('cache key', () => {
  it('is the SHA-256 of canonical JSON: key order does not matter, every part does', () => {
    const k = (over: Partial<Parameters<typeof cacheKey>[0]> = {}) =>
      cacheKey({ model: 'tiny@1', promptTokenIds: [1, 2], sampling: { temperature: 0, maxTokens: 8 }, ...over });
    expect(k()).toMatch(/^[0-9a-f]{64}$/);
    expect(k({ sampling: { maxTokens: 8, temperature: 0 } })).toBe(k());
    expect(k({ model: 'tiny@2' })).not.toBe(k());
    expect(k({ promptTokenIds: [2, 1] })).not.toBe(k());
    expect(k({ sampling: { temperature: 0, maxTokens: 9 } })).not.toBe(k());
    expect(k({ sampling: { temperature: 0, maxTokens: 8, seed: 7n } })).not.toBe(k({ sampling: { temperature: 0, maxTokens: 8, seed: 8n } }));
    expect(k({ routingKey: 'u1' })).not.toBe(k());
    expect(canonicalJson({ b: 1, a: { d: undefined, c: 2n } })).toBe('{"a":{"c":"2n"},"b":1}');
  });

  it.each([
    ['name@version as given', 'tiny@7', 'u', served, { model: 'tiny@7', byRoutingKey: false }],
    ['a bare name served by one version', 'tiny', 'u', served, { model: 'tiny@1', byRoutingKey: false }],
    ['several versions: the routing key picks one', 'tiny', 'u', [...served, { name: 'tiny', version: '2' }], { model: 'tiny', byRoutingKey: true }],
    ['several versions, no routing key: random split, not cached', 'tiny', '', [...served, { name: 'tiny', version: '2' }], undefined],
    ['not served: not cached', 'other', 'u', served, undefined],
    ['what the workers loaded, when they say it', 'tiny', 'u', [{ name: 'tiny', version: '1', digest: 'ab' }], { model: 'tiny@1#ab', byRoutingKey: false }],
    ['name@version with its digest', 'tiny@1', 'u', [{ name: 'tiny', version: '1', digest: 'ab' }], { model: 'tiny@1#ab', byRoutingKey: false }],
    [
      'workers that disagree, and a split: every digest',
      'tiny',
      'u',
      [
        { name: 'tiny', version: '1', digest: 'cd,ab' },
        { name: 'tiny', version: '2', digest: 'ef' },
      ],
      { model: 'tiny#ab,cd,ef', byRoutingKey: true },
    ],
  ])('resolves %s', (_what, model, key, list, expected) => {
    expect(resolveModel(model, key, list)).toEqual(expected);
  });

  it('asks the router at most once per second, sharing one call', async () => {
    let now = 0;
    let calls = 0;
    const v = new ServedVersions(
      async () => (calls++, served),
      1000,
      () => now,
    );
    await Promise.all([v.models(), v.models(), v.models()]);
    now = 999;
    await v.models();
    expect(calls).toBe(1);
    now = 1000;
    await v.models();
    expect(calls).toBe(2);
  });
});

describe('StoreResponseCache', () => {
  it('stores a complete generation and replays it as a hit with this request’s totalMs', async () => {
    const { cache, count } = newCache();
    const gen = new FakeGeneration();
    gen.push({ type: 'text', text: 'he' }, { type: 'text', text: 'llo' }, done(), null);
    const outcomes: string[] = [];
    const first = await collect(cache.through(parts(), gen.generate, (o) => outcomes.push(o), new AbortController().signal));
    await tick();
    const second = await collect(cache.through(parts({ model: 'tiny@1' }), gen.generate, (o) => outcomes.push(o), new AbortController().signal));
    expect(outcomes).toEqual(['miss', 'hit']);
    expect(gen.calls).toBe(1);
    expect(second.slice(0, 2)).toEqual(first.slice(0, 2));
    const [a, b] = [first[2], second[2]] as Extract<TextEvent, { type: 'done' }>[];
    expect(a!.timings.totalMs).toBe(1e9);
    expect({ ...b, timings: { ...b!.timings, totalMs: 1e9 } }).toEqual(a);
    expect(b!.timings.totalMs).toBeLessThan(1e9);
    expect(await count('hit')).toBe(1);
    expect(await count('miss')).toBe(1);
  });

  it.each([
    ['an error', [{ type: 'text', text: 'x' } as TextEvent, new Error('worker died')]],
    ['a cancelled finish', [{ type: 'text', text: 'x' } as TextEvent, done(FinishReason.CANCELLED), null]],
  ])('does not store %s', async (_what, items) => {
    const { cache } = newCache();
    const gen = new FakeGeneration();
    gen.push(...items);
    await collect(cache.through(parts(), gen.generate, () => undefined, new AbortController().signal)).catch(() => undefined);
    await tick();
    gen.push({ type: 'text', text: 'y' }, done(), null);
    const outcomes: string[] = [];
    await collect(cache.through(parts(), gen.generate, (o) => outcomes.push(o), new AbortController().signal));
    expect(outcomes).toEqual(['miss']);
    expect(gen.calls).toBe(2);
  });

  it('stores a stop-string finish', async () => {
    const { cache } = newCache();
    const gen = new FakeGeneration();
    gen.push({ type: 'text', text: 'a' }, done(FinishReason.STOP), null);
    await collect(cache.through(parts(), gen.generate, () => undefined, new AbortController().signal));
    await tick();
    const outcomes: string[] = [];
    await collect(cache.through(parts(), gen.generate, (o) => outcomes.push(o), new AbortController().signal));
    expect(outcomes).toEqual(['hit']);
  });

  it('followers tail the leader live, and one leaving does not cancel it', async () => {
    const { cache } = newCache();
    const gen = new FakeGeneration();
    const got: TextEvent[][] = [[], [], []];
    const outcomes: string[] = [];
    const clients = [new AbortController(), new AbortController(), new AbortController()];
    const runs = clients.map((c, i) =>
      collect(
        cache.through(parts(), gen.generate, (o) => outcomes.push(o), c.signal),
        got[i],
      ).catch((e: Error) => e),
    );
    gen.push({ type: 'text', text: 'one' });
    // Live: every listener has the first delta before the generation goes on.
    await waitFor(() => got.every((g) => g.length === 1));
    clients[2]!.abort();
    gen.push({ type: 'text', text: 'two' }, done(), null);
    const results = await Promise.all(runs);
    expect(gen.calls).toBe(1);
    expect(gen.signal!.aborted).toBe(false);
    expect(results[2]).toBeInstanceOf(Error);
    expect(got[0]!.map((e) => e.type)).toEqual(['text', 'text', 'done']);
    expect(got[1]!.slice(0, 2)).toEqual(got[0]!.slice(0, 2));
    expect(outcomes.sort()).toEqual(['hit', 'hit', 'miss']);
  });

  it('the generation goes on for the followers when the leader’s client goes away', async () => {
    const { cache } = newCache();
    const gen = new FakeGeneration();
    const leader = new AbortController();
    const gotA: TextEvent[] = [];
    const gotB: TextEvent[] = [];
    const a = collect(
      cache.through(parts(), gen.generate, () => undefined, leader.signal),
      gotA,
    ).catch((e: Error) => e);
    const b = collect(
      cache.through(parts(), gen.generate, () => undefined, new AbortController().signal),
      gotB,
    );
    gen.push({ type: 'text', text: 'one' });
    await waitFor(() => gotA.length === 1 && gotB.length === 1);
    leader.abort();
    gen.push({ type: 'text', text: 'two' }, done(), null);
    expect(await a).toBeInstanceOf(Error);
    expect((await b).map((e) => (e.type === 'text' ? e.text : 'done'))).toEqual(['one', 'two', 'done']);
    expect(gen.calls).toBe(1);
  });

  it('cancels the generation, and stores nothing, when every client has gone', async () => {
    const { cache, store } = newCache();
    const gen = new FakeGeneration();
    const clients = [new AbortController(), new AbortController()];
    const got: TextEvent[][] = [[], []];
    const runs = clients.map((c, i) =>
      collect(
        cache.through(parts(), gen.generate, () => undefined, c.signal),
        got[i],
      ).catch((e: Error) => e),
    );
    gen.push({ type: 'text', text: 'one' });
    await waitFor(() => got.every((g) => g.length === 1));
    clients.forEach((c) => c.abort());
    await Promise.all(runs);
    await waitFor(() => gen.signal!.aborted);
    expect(gen.calls).toBe(1);
    expect(cache.inFlight).toBe(0);
    expect(store.keyspace.size).toBe(0);
  });

  it('idempotent requests: the generation outlives a caller that left, and its retry is answered by it', async () => {
    const registry = createMetrics('gateway-test');
    const { cache, store } = newCache(new MemoryStore(), { idempotency: { outlivesCallersMs: 60_000 }, metrics: registry });
    const gen = new FakeGeneration();
    const sampled = (key: string) => parts({ sampling: { temperature: 0.8, maxTokens: 8, stop: [] }, idempotencyKey: key });
    const first = new AbortController();
    const got: TextEvent[] = [];
    const a = collect(
      cache.through(sampled('alice\nk1'), gen.generate, () => undefined, first.signal),
      got,
    ).catch((e: Error) => e);
    gen.push({ type: 'text', text: 'one' });
    await waitFor(() => got.length === 1);
    first.abort();
    expect(await a).toBeInstanceOf(Error);
    await tick();
    expect(gen.signal!.aborted).toBe(false);
    gen.push({ type: 'text', text: 'two' }, done(), null);
    await waitFor(() => store.keyspace.size === 1);
    const outcomes: string[] = [];
    const retry = await collect(cache.through(sampled('alice\nk1'), gen.generate, (o) => outcomes.push(o), new AbortController().signal));
    expect(retry.map((e) => (e.type === 'text' ? e.text : e.type))).toEqual(['one', 'two', 'done']);
    expect(outcomes).toEqual(['hit']);
    expect(gen.calls).toBe(1);
    // Another key, or the same key of another caller, is another request.
    for (const other of ['alice\nk2', 'bob\nk1']) {
      gen.push({ type: 'text', text: 'x' }, done(), null);
      await collect(cache.through(sampled(other), gen.generate, () => undefined, new AbortController().signal));
    }
    expect(gen.calls).toBe(3);
    const hits = (await registry.getSingleMetric('tokenmesh_gateway_idempotent_requests_total')!.get()).values.find(
      (v) => v.labels['outcome'] === 'hit',
    )!.value;
    expect(hits).toBe(1);
  });

  it('idempotent requests: a generation nobody came back for is cancelled after the grace', async () => {
    const { cache, store } = newCache(new MemoryStore(), { idempotency: { outlivesCallersMs: 50 } });
    const gen = new FakeGeneration();
    const caller = new AbortController();
    const got: TextEvent[] = [];
    const a = collect(
      cache.through(parts({ idempotencyKey: 'alice\nk' }), gen.generate, () => undefined, caller.signal),
      got,
    ).catch((e: Error) => e);
    gen.push({ type: 'text', text: 'one' });
    await waitFor(() => got.length === 1);
    caller.abort();
    await a;
    await waitFor(() => gen.signal!.aborted);
    expect(cache.inFlight).toBe(0);
    expect(store.keyspace.size).toBe(0);
  });

  it('never lets a random traffic split be pinned: several versions without a routing key bypass the cache', async () => {
    const { cache } = newCache(new MemoryStore(), { servedModels: async () => [...served, { name: 'tiny', version: '2' }] });
    const gen = new FakeGeneration();
    for (let i = 0; i < 2; i++) {
      gen.push({ type: 'text', text: 'a' }, done(), null);
      await collect(cache.through(parts(), gen.generate, () => undefined, new AbortController().signal));
    }
    expect(gen.calls).toBe(2);
    gen.push({ type: 'text', text: 'a' }, done(), null);
    await collect(cache.through(parts({ routingKey: 'user-1' }), gen.generate, () => undefined, new AbortController().signal));
    await tick();
    const outcomes: string[] = [];
    await collect(cache.through(parts({ routingKey: 'user-1' }), gen.generate, (o) => outcomes.push(o), new AbortController().signal));
    expect(outcomes).toEqual(['hit']);
    expect(gen.calls).toBe(3);
  });

  it('fails open when the store fails: the request is generated', async () => {
    const store = new MemoryStore();
    await store.close();
    const errors: unknown[] = [];
    const { cache } = newCache(store, { onError: (e) => errors.push(e) });
    const gen = new FakeGeneration();
    gen.push({ type: 'text', text: 'a' }, done(), null);
    const events = await collect(cache.through(parts(), gen.generate, () => undefined, new AbortController().signal));
    expect(events).toHaveLength(2);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('refuses to store an entry without a final event', async () => {
    const store = new MemoryStore();
    const entries = new CacheEntries(store, 60_000);
    await expect(entries.put('h', [{ type: 'text', text: 'no final event' }])).rejects.toThrow(RangeError);
  });
});
