import { FinishReason } from '@tokenmesh/proto';
import { MemoryKeyspace, MemoryStore, RedisStore, type Store } from '@tokenmesh/store';
import { describeWithFixture, startRedis } from '@tokenmesh/testing';
import { Redis } from 'ioredis';

import { CACHE_FORMAT, CacheEntries, cacheKey, entryKey, StoreResponseCache } from '../../src/cache';
import type { TextEvent } from '../../src/pipeline/generate-text';

const events: TextEvent[] = [
  { type: 'text', text: 'héllo ' },
  { type: 'text', text: 'wörld' },
  {
    type: 'done',
    finishReason: FinishReason.STOP,
    usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 },
    timings: { queueMs: 1, timeToFirstTokenMs: 2.5, decodeMs: 3, totalMs: 9 },
    model: 'tiny@1',
    variant: 'canary',
  },
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Fixture {
  /** Stores that see the same data, as two replicas' stores do; closed by teardown. */
  open(): Promise<Store>;
  teardown(): Promise<void>;
}

/** Closes every store it opened before `stop`, so no client reconnects to a stopped server. */
function tracked(open: () => Promise<Store>, stop: () => Promise<void>): Fixture {
  const opened: Store[] = [];
  return {
    open: async () => {
      const s = await open();
      opened.push(s);
      return s;
    },
    teardown: async () => {
      await Promise.all(opened.map((s) => s.close()));
      await stop();
    },
  };
}

/** The response cache's use of the store, held to one suite on both adapters. */
function cacheStoreContract(title: string, start: () => Promise<Fixture>): void {
  describeWithFixture(title, start, (fixture) => {
    const open = () => fixture().open();

    it('round-trips a generation’s events exactly', async () => {
      const entries = new CacheEntries(await open(), 60_000);
      expect(await entries.get('k1')).toBeNull();
      await entries.put('k1', events);
      expect(await entries.get('k1')).toEqual(events);
    });

    it('expires entries after the TTL', async () => {
      const entries = new CacheEntries(await open(), 400);
      await entries.put('k2', events);
      expect(await entries.get('k2')).toEqual(events);
      await sleep(700);
      expect(await entries.get('k2')).toBeNull();
    });

    it('reads entries it cannot use as absent: not JSON, another format, no final event', async () => {
      const store = await open();
      const entries = new CacheEntries(store, 60_000);
      for (const raw of [
        '{not json',
        JSON.stringify({ format: CACHE_FORMAT + 1, events }),
        JSON.stringify({ format: CACHE_FORMAT, events: events.slice(0, 2) }),
      ]) {
        await store.set(entryKey('k3'), raw);
        expect(await entries.get('k3')).toBeNull();
      }
    });

    it('gives the lock to one owner at a time; only the owner releases it; it expires', async () => {
      const [a, b] = [new CacheEntries(await open(), 60_000), new CacheEntries(await open(), 60_000)];
      expect(await a.lock('k4', 'A', 200)).toBe(true);
      expect(await b.lock('k4', 'B', 200)).toBe(false);
      expect(await b.locked('k4')).toBe(true);
      await b.unlock('k4', 'B');
      expect(await a.locked('k4')).toBe(true);
      expect(await a.extendLock('k4', 5000)).toBe(true);
      // Past the first 200 ms: only the extension keeps it.
      await sleep(350);
      expect(await b.locked('k4')).toBe(true);
      await a.unlock('k4', 'A');
      expect(await b.lock('k4', 'B', 100)).toBe(true);
      await sleep(250);
      expect(await a.locked('k4')).toBe(false);
    });

    it('two replicas asked at once generate once: the other waits for the entry and replays it', async () => {
      const replicas = [await open(), await open()].map(
        (store) => new StoreResponseCache({ store, ttlMs: 60_000, lockTtlMs: 1000, pollMs: 10, servedModels: async () => [{ name: 'tiny', version: '1' }] }),
      );
      let calls = 0;
      const generate = async function* (): AsyncGenerator<TextEvent> {
        calls++;
        for (const e of events) {
          await sleep(30);
          yield e;
        }
      };
      const outcomes: string[] = [];
      const parts = { model: 'tiny', routingKey: '', promptTokenIds: [5, 6], sampling: { temperature: 0, maxTokens: 4, stop: [] } };
      const results = await Promise.all(
        replicas.map(async (cache) => {
          const got: TextEvent[] = [];
          for await (const e of cache.through(parts, generate, (o) => outcomes.push(o), new AbortController().signal)) got.push(e);
          return got;
        }),
      );
      expect(calls).toBe(1);
      expect(outcomes.sort()).toEqual(['hit', 'miss']);
      const strip = (es: TextEvent[]) => es.map((e) => (e.type === 'done' ? { ...e, timings: { ...e.timings, totalMs: 0 } } : e));
      expect(strip(results[0]!)).toEqual(strip(results[1]!));
      // The lock is gone once the entry is stored.
      const hash = cacheKey({ model: 'tiny@1', promptTokenIds: parts.promptTokenIds, sampling: parts.sampling });
      const entries = new CacheEntries(await open(), 60_000);
      expect(await entries.get(hash)).toEqual(events);
      expect(await entries.locked(hash)).toBe(false);
    });
  });
}

cacheStoreContract('response cache on MemoryStore', async () => {
  const keyspace = new MemoryKeyspace();
  return tracked(
    async () => new MemoryStore({ keyspace }),
    async () => undefined,
  );
});

cacheStoreContract('response cache on RedisStore (redis-server)', async () => {
  const server = await startRedis();
  return tracked(
    () => RedisStore.connect(server.url),
    () => server.stop(),
  );
});

describe('response cache entries in Redis', () => {
  it('are JSON under tokenmesh:gateway:cache:<sha256> with a TTL', async () => {
    const server = await startRedis();
    const store = await RedisStore.connect(server.url);
    const raw = new Redis(server.url);
    try {
      await new CacheEntries(store, 3_600_000).put('ab'.repeat(32), events);
      const key = `tokenmesh:gateway:cache:${'ab'.repeat(32)}`;
      expect(JSON.parse((await raw.get(key))!)).toEqual({ format: CACHE_FORMAT, events });
      const ttl = await raw.pttl(key);
      expect(ttl).toBeGreaterThan(3_590_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000);
    } finally {
      await raw.quit();
      await store.close();
      await server.stop();
    }
  });
});
