import { waitFor } from '@tokenmesh/testing';

import { Clients, type StoreFixture, unique } from './fixture';

const MINUTE = 60_000;

/** `Store.rateLimit`: GCRA buckets shared by every client, costs, debt and refill. */
export function rateLimitContract(fixture: () => StoreFixture): void {
  describe('rateLimit (GCRA)', () => {
    const clients = new Clients(fixture);
    afterEach(() => clients.closeAll());

    it('allows a burst up to the limit, counting down, then refuses with the time one unit takes to refill', async () => {
      const store = await clients.store();
      const key = unique('ratelimit:requests');
      const results = [];
      for (let i = 0; i < 6; i++) results.push(await store.rateLimit(key, { limit: 5, periodMs: MINUTE }));
      expect(results.map((r) => [r.allowed, r.remaining])).toEqual([
        [true, 4],
        [true, 3],
        [true, 2],
        [true, 1],
        [true, 0],
        [false, 0],
      ]);
      expect(results.slice(0, 5).every((r) => r.retryAfterMs === 0)).toBe(true);
      // One unit refills every 12 s; the bucket is full again a minute after the burst.
      expect(results[5]!.retryAfterMs).toBeGreaterThan(11_000);
      expect(results[5]!.retryAfterMs).toBeLessThanOrEqual(12_000);
      expect(results[4]!.resetMs).toBeGreaterThan(59_000);
      expect(results[4]!.resetMs).toBeLessThanOrEqual(MINUTE);
      expect(results[0]!.resetMs).toBeLessThanOrEqual(12_000);
    });

    it('is one bucket for every client: of many concurrent calls exactly the limit are allowed', async () => {
      const [a, b] = [await clients.store(), await clients.store()];
      const key = unique('ratelimit:shared');
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).rateLimit(key, { limit: 10, periodMs: MINUTE })));
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
      expect([...results.filter((r) => r.allowed).map((r) => r.remaining)].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('refills over time: a refused caller is allowed once retry-after has passed, and the key expires when full', async () => {
      const store = await clients.store();
      const key = unique('ratelimit:refill');
      // 300 ms per unit: room for slow round trips on a loaded machine between the three calls.
      const opts = { limit: 2, periodMs: 600 };
      expect((await store.rateLimit(key, opts)).allowed).toBe(true);
      expect((await store.rateLimit(key, opts)).allowed).toBe(true);
      const refused = await store.rateLimit(key, opts);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(300);
      await new Promise((r) => setTimeout(r, refused.retryAfterMs + 5));
      expect(await store.rateLimit(key, opts)).toMatchObject({ allowed: true, remaining: 0 });
      // The stored arrival time is dropped once the bucket is full again: no key per idle caller.
      await waitFor(async () => (await store.get(key)) === null, { timeoutMs: 2000 });
      expect(await store.rateLimit(key, opts)).toMatchObject({ allowed: true, remaining: 1 });
    });

    it('takes costs greater than one (tokens), refusing a cost that does not fit while a smaller one still does', async () => {
      const store = await clients.store();
      const key = unique('ratelimit:tokens');
      const opts = (cost: number) => ({ limit: 10, periodMs: MINUTE, cost });
      expect(await store.rateLimit(key, opts(4))).toMatchObject({ allowed: true, remaining: 6 });
      expect(await store.rateLimit(key, opts(4))).toMatchObject({ allowed: true, remaining: 2 });
      const refused = await store.rateLimit(key, opts(4));
      expect(refused).toMatchObject({ allowed: false, remaining: 2 });
      // Two more tokens must refill, at one per 6 s.
      expect(refused.retryAfterMs).toBeGreaterThan(11_000);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(12_000);
      expect(await store.rateLimit(key, opts(2))).toMatchObject({ allowed: true, remaining: 0 });
      // Cost 0 asks without taking: allowed while the bucket is not in debt.
      expect(await store.rateLimit(key, opts(0))).toMatchObject({ allowed: true, remaining: 0, retryAfterMs: 0 });
      expect((await store.rateLimit(unique('ratelimit:huge'), opts(11))).allowed).toBe(false);
    });

    it('forced costs drive the bucket into debt that later calls wait out', async () => {
      const [a, b] = [await clients.store(), await clients.store()];
      const key = unique('ratelimit:debt');
      const forced = await a.rateLimit(key, { limit: 10, periodMs: MINUTE, cost: 25, force: true });
      expect(forced).toMatchObject({ allowed: true, remaining: 0, retryAfterMs: 0 });
      expect(forced.resetMs).toBeGreaterThan(149_000);
      expect(forced.resetMs).toBeLessThanOrEqual(150_000);
      // 15 tokens over the burst: 90 s before even a zero-cost call fits, 96 s for one token.
      const peek = await b.rateLimit(key, { limit: 10, periodMs: MINUTE, cost: 0 });
      expect(peek.allowed).toBe(false);
      expect(peek.retryAfterMs).toBeGreaterThan(89_000);
      expect(peek.retryAfterMs).toBeLessThanOrEqual(90_000);
      const one = await b.rateLimit(key, { limit: 10, periodMs: MINUTE });
      expect(one.allowed).toBe(false);
      expect(one.retryAfterMs).toBeGreaterThan(95_000);
      expect(one.retryAfterMs).toBeLessThanOrEqual(96_000);
      expect(one.resetMs).toBeGreaterThan(149_000);
    });

    it('rejects bad options and keys holding other values', async () => {
      const store = await clients.store();
      const [key, hash, text] = [unique('ratelimit:bad'), unique('ratelimit:hash'), unique('ratelimit:text')];
      await expect(store.rateLimit(key, { limit: 0, periodMs: MINUTE })).rejects.toMatchObject({ code: 'invalid' });
      await expect(store.rateLimit(key, { limit: 1.5, periodMs: MINUTE })).rejects.toMatchObject({ code: 'invalid' });
      await expect(store.rateLimit(key, { limit: 5, periodMs: 0 })).rejects.toMatchObject({ code: 'invalid' });
      await expect(store.rateLimit(key, { limit: 5, periodMs: MINUTE, cost: -1 })).rejects.toMatchObject({ code: 'invalid' });
      await expect(store.rateLimit('', { limit: 5, periodMs: MINUTE })).rejects.toMatchObject({ code: 'invalid' });
      expect(await store.get(key)).toBeNull();
      await store.hIncrBy(hash, 'f', 1);
      await store.set(text, 'abc');
      await expect(store.rateLimit(hash, { limit: 5, periodMs: MINUTE })).rejects.toMatchObject({ code: 'wrong-type' });
      await expect(store.rateLimit(text, { limit: 5, periodMs: MINUTE })).rejects.toMatchObject({ code: 'not-a-number' });
    });
  });
}
