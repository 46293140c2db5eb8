import { waitFor } from '@tokenmesh/testing';

import { Clients, type StoreFixture, unique } from './fixture';

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Expiry, single-flight locks and fixed-window counters. */
export function ttlContract(fixture: () => StoreFixture): void {
  describe('expiry and set-if-absent', () => {
    const clients = new Clients(fixture);
    afterEach(() => clients.closeAll());

    it('a value set with a TTL is there until it expires', async () => {
      const store = await clients.store();
      const key = unique('cache');
      const t0 = Date.now();
      await store.set(key, 'v', { ttlMs: 100 });
      expect(await store.get(key)).toBe('v');
      await waitFor(async () => (await store.get(key)) === null, { timeoutMs: 2000 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    });

    it('set without a TTL makes a key permanent again; expire() gives any key a TTL', async () => {
      const store = await clients.store();
      const [key, hash, missing] = [unique('k'), unique('h'), unique('none')];
      await store.set(key, 'old', { ttlMs: 60 });
      await store.set(key, 'new');
      await store.hIncrBy(hash, 'n', 1);
      expect(await store.expire(hash, 60)).toBe(true);
      expect(await store.expire(missing, 60)).toBe(false);
      await waitFor(async () => Object.keys(await store.hGetAll(hash)).length === 0, { timeoutMs: 2000 });
      await pause(30); // the 60 ms TTL `set` cleared has passed too
      expect(await store.get(key)).toBe('new');
    });

    it('setIfAbsent: of many concurrent callers on two clients exactly one wins, until the TTL frees the key', async () => {
      const [a, b] = [await clients.store(), await clients.store()];
      const key = unique('lock');
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).setIfAbsent(key, `owner-${i}`, 150)));
      const winners = results.flatMap((won, i) => (won ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(await a.get(key)).toBe(`owner-${winners[0]}`);
      await waitFor(() => b.setIfAbsent(key, 'next', 150), { timeoutMs: 2000 });
      expect(await a.get(key)).toBe('next');
    });

    it('incrBy with a TTL sets it once: later increments do not extend the window', async () => {
      const store = await clients.store();
      const key = unique('ratelimit');
      expect(await store.incrBy(key, 1, { ttlMs: 150 })).toBe(1);
      expect(await store.incrBy(key, 5, { ttlMs: 60_000 })).toBe(6);
      expect(await store.incrBy(key, -2)).toBe(4);
      await waitFor(async () => (await store.get(key)) === null, { timeoutMs: 2000 });
      expect(await store.incrBy(key, 1, { ttlMs: 150 })).toBe(1);
    });
  });
}
