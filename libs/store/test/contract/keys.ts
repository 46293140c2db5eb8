import { Clients, type StoreFixture, unique } from './fixture';

/** Strings, deletes, prefixes, validation and close. */
export function keysContract(fixture: () => StoreFixture): void {
  describe('keys and values', () => {
    const clients = new Clients(fixture);
    afterEach(() => clients.closeAll());

    it('stores strings as given and reports absent keys as null', async () => {
      const store = await clients.store();
      const key = unique('cache');
      expect(await store.get(key)).toBeNull();
      const value = JSON.stringify({ text: 'héllo 👋', tokens: [1, 2] });
      await store.set(key, value);
      expect(await store.get(key)).toBe(value);
      await store.set(key, '');
      expect(await store.get(key)).toBe('');
    });

    it('del removes a key and says whether it existed', async () => {
      const store = await clients.store();
      const key = unique('job');
      await store.set(key, 'result');
      expect(await store.del(key)).toBe(true);
      expect(await store.get(key)).toBeNull();
      expect(await store.del(key)).toBe(false);
    });

    it('prefixes every key with tokenmesh: by default, or the prefix given; prefixes do not see each other', async () => {
      const [plain, other] = [await clients.store(), await clients.store({ prefix: 'other:' })];
      const [key, counter, hash] = [unique('k'), unique('c'), unique('h')];
      await plain.set(key, 'mine');
      await other.set(key, 'theirs');
      await plain.incrBy(counter, 1, { ttlMs: 60_000 });
      await plain.hIncrBy(hash, 'f', 1);
      expect([await plain.get(key), await other.get(key)]).toEqual(['mine', 'theirs']);
      const raw = await fixture().rawKeys();
      expect(raw).toEqual(expect.arrayContaining([`tokenmesh:${key}`, `other:${key}`, `tokenmesh:${counter}`, `tokenmesh:${hash}`]));
      expect(raw).not.toContain(key);
    });

    it('refuses operations on the wrong kind of value and increments of non-numbers', async () => {
      const store = await clients.store();
      const [text, hash] = [unique('text'), unique('hash')];
      await store.set(text, 'abc');
      await store.hIncrBy(hash, 'f', 1);
      await store.hIncrByFloat(hash, 'g', 0.5);
      await expect(store.incrBy(text, 1)).rejects.toMatchObject({ code: 'not-a-number' });
      await expect(store.hIncrBy(text, 'f', 1)).rejects.toMatchObject({ code: 'wrong-type' });
      await expect(store.get(hash)).rejects.toMatchObject({ code: 'wrong-type' });
      await expect(store.hIncrBy(hash, 'g', 1)).rejects.toMatchObject({ code: 'not-a-number' });
      expect(await store.get(text)).toBe('abc');
    });

    it('rejects bad arguments before touching data', async () => {
      const store = await clients.store();
      const key = unique('arg');
      await expect(store.set(key, 'v', { ttlMs: 0 })).rejects.toMatchObject({ code: 'invalid' });
      await expect(store.setIfAbsent(key, 'v', 1.5)).rejects.toMatchObject({ code: 'invalid' });
      await expect(store.incrBy(key, 0.5)).rejects.toMatchObject({ code: 'invalid' });
      await expect(store.hIncrByFloat(key, 'f', Number.NaN)).rejects.toMatchObject({ code: 'invalid' });
      await expect(store.get('')).rejects.toMatchObject({ code: 'invalid' });
      expect(await store.get(key)).toBeNull();
    });

    it('refuses calls after close', async () => {
      const store = await clients.store();
      await store.close();
      await store.close();
      await expect(store.get(unique('late'))).rejects.toMatchObject({ code: 'closed' });
    });
  });
}
