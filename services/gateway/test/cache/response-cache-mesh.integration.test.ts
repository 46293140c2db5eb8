import { createClient, createRouterTransport } from '@connectrpc/connect';
import { EnvReader } from '@tokenmesh/config';
import { createMetrics, type Registry } from '@tokenmesh/metrics';
import { InferenceService } from '@tokenmesh/proto';
import { MemoryStore } from '@tokenmesh/store';

import { inferenceService } from '../../src/api/grpc/inference-api';
import { restApi } from '../../src/api/rest/rest-api';
import { cacheConfig } from '../../src/cache/cache-config';
import { startIdempotentReplays, startResponseCache } from '../../src/cache/start-cache';
import type { Upstreams } from '../../src/pipeline/generate-text';
import { fakeFeedback, listen } from '../fakes';
import { inMemoryMesh } from '../in-memory-mesh';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

/** The REST API over the in-memory mesh with a response cache built from GATEWAY_CACHE_* `env`. */
async function gateway(mesh: Awaited<ReturnType<typeof inMemoryMesh>>, env: Record<string, string> = {}) {
  const metrics: Registry = createMetrics('gateway');
  const config = { cache: cacheConfig(new EnvReader(env)), requestTimeoutMs: 30_000 };
  const store = new MemoryStore();
  const cache = startResponseCache(config, { metrics, logger: quiet }, store, mesh.upstreams.router);
  const replays = startIdempotentReplays(config, { metrics, logger: quiet }, store, mesh.upstreams.catalog!);
  const upstreams: Upstreams = { ...mesh.upstreams, cache, replays };
  const { base, close } = await listen(restApi({ upstreams, feedback: fakeFeedback(), bodyLimitBytes: 1 << 16 }));
  const post = (path: string, body: unknown, requestId = 'same-id', headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...headers },
      body: JSON.stringify(body),
      ...(signal && { signal }),
    });
  const outcomes = async () =>
    Object.fromEntries((await metrics.getSingleMetric('tokenmesh_gateway_cache_requests_total')!.get()).values.map((v) => [v.labels['outcome'], v.value]));
  return { upstreams, post, outcomes, close };
}

// The only bytes that may differ between a miss and its hit: this request's own duration, and
// the second the OpenAI chunk was created.
const sameBytes = (s: string) => s.replace(/"total_ms":[\d.e+-]+/g, '"total_ms":T').replace(/"created":\d+/g, '"created":C');

describe('response cache over the in-memory mesh (REST)', () => {
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let gw: Awaited<ReturnType<typeof gateway>>;

  // A fresh mesh per test: the in-memory mesh announces its worker once, and the router's pool
  // stops routing to a worker that has not been heard from for 3 s (a slow, loaded machine).
  beforeEach(async () => {
    mesh = await inMemoryMesh();
    gw = await gateway(mesh);
  });
  afterEach(async () => {
    await gw.close();
    await mesh.close();
  });

  it('answers a second identical deterministic /generate from the cache, byte for byte', async () => {
    const calls = mesh.workerCalls();
    const body = { prompt: 'The cache test begins', max_tokens: 12, temperature: 0 };
    const first = await gw.post('/generate', body);
    const second = await gw.post('/generate', body);
    expect([first.headers.get('x-tokenmesh-cache'), second.headers.get('x-tokenmesh-cache')]).toEqual(['miss', 'hit']);
    const [a, b] = [await first.text(), await second.text()];
    expect(sameBytes(b)).toBe(sameBytes(a));
    expect(JSON.parse(a)).toMatchObject({ finish_reason: 'length', model: 'tinyllama@1', usage: { completion_tokens: 12 } });
    expect(mesh.workerCalls() - calls).toBe(1);
    // A request naming the version the bare name resolved to shares the entry.
    const pinned = await gw.post('/generate', { ...body, model: 'tinyllama@1' });
    expect(pinned.headers.get('x-tokenmesh-cache')).toBe('hit');
    expect(sameBytes(await pinned.text())).toBe(sameBytes(a));
  });

  it('replays a hit on an SSE stream as several chunks, byte for byte the miss’s stream', async () => {
    const calls = mesh.workerCalls();
    const body = { model: 'tinyllama', prompt: 'Streams are replayed', max_tokens: 10, temperature: 0, stream: true };
    const first = await gw.post('/v1/completions', body);
    const a = await first.text();
    const second = await gw.post('/v1/completions', body);
    // Read as a client that renders as it reads: the hit arrives in several reads, not one blob.
    const reader = second.body!.getReader();
    const reads: string[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) reads.push(Buffer.from(r.value).toString('utf8'));
    const b = reads.join('');
    expect(reads.length).toBeGreaterThan(1);
    expect([first.headers.get('x-tokenmesh-cache'), second.headers.get('x-tokenmesh-cache')]).toEqual(['miss', 'hit']);
    expect(sameBytes(b)).toBe(sameBytes(a));
    const events = b.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events.length).toBeGreaterThan(4);
    expect(mesh.workerCalls() - calls).toBe(1);
  });

  it('never caches a non-deterministic request (temperature 0.8, no seed); a seed makes it cacheable', async () => {
    const calls = mesh.workerCalls();
    const body = { prompt: 'Random words', max_tokens: 6, temperature: 0.8 };
    const heads = [];
    for (let i = 0; i < 3; i++) heads.push((await gw.post('/generate', body)).headers.get('x-tokenmesh-cache'));
    expect(heads).toEqual(['miss', 'miss', 'miss']);
    expect(mesh.workerCalls() - calls).toBe(3);
    const seeded = { ...body, seed: 1234 };
    const s1 = await gw.post('/generate', seeded);
    const s2 = await gw.post('/generate', seeded);
    expect([s1.headers.get('x-tokenmesh-cache'), s2.headers.get('x-tokenmesh-cache')]).toEqual(['miss', 'hit']);
    expect(((await s2.json()) as { text: string }).text).toBe(((await s1.json()) as { text: string }).text);
    expect(mesh.workerCalls() - calls).toBe(4);
  });

  it('100 identical concurrent requests make exactly one worker generation and get identical text', async () => {
    const before = await gw.outcomes();
    const calls = mesh.workerCalls();
    const body = { prompt: 'A hundred clients ask at once', max_tokens: 16, temperature: 0 };
    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => gw.post('/generate', body, `r-${i}`)));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as { text: string; request_id: string; usage: unknown }[];
    expect(responses.map((r, i) => (r.status === 200 ? '' : `${r.status} ${JSON.stringify(bodies[i])}`)).filter(Boolean)).toEqual([]);
    expect(mesh.workerCalls() - calls).toBe(1);
    expect(new Set(bodies.map((b) => b.text)).size).toBe(1);
    expect(bodies[0]!.text.length).toBeGreaterThan(0);
    expect(new Set(bodies.map((b) => JSON.stringify(b.usage))).size).toBe(1);
    // Each keeps its own request id.
    expect(bodies.map((b) => b.request_id)).toEqual(Array.from({ length: 100 }, (_, i) => `r-${i}`));
    const heads = responses.map((r) => r.headers.get('x-tokenmesh-cache'));
    expect(heads.filter((h) => h === 'miss')).toHaveLength(1);
    expect(heads.filter((h) => h === 'hit')).toHaveLength(99);
    const after = await gw.outcomes();
    expect([after['hit']! - before['hit']!, after['miss']! - before['miss']!]).toEqual([99, 1]);
  });

  it('streams a hit over gRPC/Connect StreamPredict as several messages, with x-tokenmesh-cache', async () => {
    const client = createClient(
      InferenceService,
      createRouterTransport((r) => r.service(InferenceService, inferenceService(gw.upstreams))),
    );
    const run = async () => {
      let cacheHeader: string | null = null;
      const texts: string[] = [];
      for await (const m of client.streamPredict(
        { prompt: 'Over gRPC too', sampling: { maxTokens: 8, temperature: 0 } },
        { onHeader: (h) => (cacheHeader = h.get('x-tokenmesh-cache')) },
      )) {
        if (m.text) texts.push(m.text);
      }
      return { cacheHeader, texts };
    };
    const miss = await run();
    const hit = await run();
    expect([miss.cacheHeader, hit.cacheHeader]).toEqual(['miss', 'hit']);
    expect(hit.texts).toEqual(miss.texts);
    expect(hit.texts.length).toBeGreaterThan(2);
  });

  describe('Idempotency-Key', () => {
    const sampled = { model: 'tinyllama', prompt: 'Once upon a time', max_tokens: 48, temperature: 0.9 };
    const text = async (r: Response) => ((await r.json()) as { choices: { text: string }[] }).choices.map((c) => c.text);

    it('a sampled request tried again with its key gets the first try’s answer, generated once; another key is generated', async () => {
      const calls = mesh.workerCalls();
      const key = { 'idempotency-key': 'line-7' };
      const first = await gw.post('/v1/completions', sampled, 'r1', key);
      const again = await gw.post('/v1/completions', sampled, 'r2', key);
      expect([first.status, again.status]).toEqual([200, 200]);
      expect(again.headers.get('x-tokenmesh-cache')).toBe('hit');
      expect(await text(again)).toEqual(await text(first));
      expect(mesh.workerCalls() - calls).toBe(1);
      await gw.post('/v1/completions', sampled, 'r3', { 'idempotency-key': 'line-8' });
      expect(mesh.workerCalls() - calls).toBe(2);
    });

    it('the first try’s client left mid-stream: the generation goes on, and the retry is answered by it', async () => {
      const calls = mesh.workerCalls();
      const key = { 'idempotency-key': 'crashed-runner' };
      const gone = new AbortController();
      const first = await gw.post('/v1/completions', { ...sampled, max_tokens: 200, stream: true }, 'r1', key, gone.signal);
      const reader = first.body!.getReader();
      await reader.read();
      gone.abort();
      const retry = await gw.post('/v1/completions', { ...sampled, max_tokens: 200, stream: true }, 'r2', key);
      const events = (await retry.text()).split('\n\n').filter(Boolean);
      expect(retry.headers.get('x-tokenmesh-cache')).toBe('hit');
      expect(events.at(-1)).toBe('data: [DONE]');
      expect(mesh.workerCalls() - calls).toBe(1);
    });

    it('a key that is not 1 to 255 visible ASCII characters is a 400 naming the header', async () => {
      for (const bad of ['x'.repeat(256), 'has space']) {
        const r = await gw.post('/v1/completions', sampled, 'r', { 'idempotency-key': bad });
        expect(r.status).toBe(400);
        expect(JSON.stringify(await r.json())).toMatch(/idempotency-key.*1 to 255 visible ASCII/);
      }
    });
  });
});

describe('response cache TTL and switch (GATEWAY_CACHE_TTL_S, GATEWAY_CACHE)', () => {
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;

  beforeEach(async () => {
    mesh = await inMemoryMesh();
  });
  afterEach(async () => {
    await mesh.close();
  });

  it('forgets an entry after the configured TTL', async () => {
    const gw = await gateway(mesh, { GATEWAY_CACHE_TTL_S: '0.4' });
    try {
      const body = { prompt: 'Short lived', max_tokens: 4, temperature: 0 };
      const heads = [(await gw.post('/generate', body)).headers.get('x-tokenmesh-cache'), (await gw.post('/generate', body)).headers.get('x-tokenmesh-cache')];
      await new Promise((r) => setTimeout(r, 600));
      heads.push((await gw.post('/generate', body)).headers.get('x-tokenmesh-cache'));
      expect(heads).toEqual(['miss', 'hit', 'miss']);
    } finally {
      await gw.close();
    }
  });

  it('GATEWAY_CACHE=off generates every request', async () => {
    const gw = await gateway(mesh, { GATEWAY_CACHE: 'off' });
    try {
      const calls = mesh.workerCalls();
      const body = { prompt: 'No cache', max_tokens: 4, temperature: 0 };
      const heads = [(await gw.post('/generate', body)).headers.get('x-tokenmesh-cache'), (await gw.post('/generate', body)).headers.get('x-tokenmesh-cache')];
      expect(heads).toEqual(['miss', 'miss']);
      expect(mesh.workerCalls() - calls).toBe(2);
    } finally {
      await gw.close();
    }
  });

  it('config names the variable and the value given', () => {
    expect(cacheConfig(new EnvReader({}))).toEqual({ enabled: true, ttlMs: 3_600_000, lockTtlMs: 10_000, idempotencyTtlMs: 3_600_000 });
    const e = new EnvReader({ GATEWAY_CACHE: 'maybe', GATEWAY_CACHE_TTL_S: '0', GATEWAY_CACHE_LOCK_MS: '50' });
    cacheConfig(e);
    expect(() => e.done()).toThrow(/GATEWAY_CACHE must be one of on, off, got "maybe"[\s\S]*GATEWAY_CACHE_TTL_S must be in[\s\S]*got 0/);
    expect(() => e.done()).toThrow(/GATEWAY_CACHE_LOCK_MS must be 0 \(off\) or at least 100, got 50/);
  });
});
