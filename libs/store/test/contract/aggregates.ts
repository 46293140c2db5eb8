import { Clients, type StoreFixture, unique } from './fixture';

/** Hash counters, as the feedback service keeps its aggregates. */
export function aggregatesContract(fixture: () => StoreFixture): void {
  describe('hash aggregates', () => {
    const clients = new Clients(fixture);
    afterEach(() => clients.closeAll());

    it('accumulates integer and float fields and reads them back as strings', async () => {
      const store = await clients.store();
      const key = unique('feedback:tinygpt');
      expect(await store.hGetAll(key)).toEqual({});
      expect(await store.hIncrBy(key, 'thumbs_up', 1)).toBe(1);
      expect(await store.hIncrBy(key, 'thumbs_up', 2)).toBe(3);
      expect(await store.hIncrBy(key, 'thumbs_down', -1)).toBe(-1);
      expect(await store.hIncrByFloat(key, 'rating_sum', 4.5)).toBe(4.5);
      expect(await store.hIncrByFloat(key, 'rating_sum', 0.25)).toBe(4.75);
      expect(await store.hIncrByFloat(key, 'rating_sum', -4.75)).toBe(0);
      expect(await store.hGetAll(key)).toEqual({ thumbs_up: '3', thumbs_down: '-1', rating_sum: '0' });
    });

    it('keeps every increment under concurrency from several clients', async () => {
      const [a, b] = [await clients.store(), await clients.store()];
      const key = unique('feedback:count');
      await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).hIncrBy(key, 'n', 1)));
      expect(await a.hGetAll(key)).toEqual({ n: '50' });
    });
  });
}
