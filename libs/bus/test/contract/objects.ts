import { createHash } from 'node:crypto';

import { type BusFixture, Connections, dec, enc, unique } from './fixture';

/** Object buckets: whole files by name, shared by every connection, with their metadata. */
export function objectsContract(fixture: () => BusFixture): void {
  describe('object buckets', () => {
    const conns = new Connections(fixture);
    afterEach(() => conns.closeAll());

    it('stores, reads back, describes, lists and deletes objects; another connection sees the same bucket', async () => {
      const bucket = unique('B');
      const a = await (await conns.bus()).objectBucket(bucket);
      const data = enc('{"custom_id":"1"}\n'.repeat(20_000)); // past one 128 KiB chunk
      const info = await a.put('file-1', data, { owner: 'alice', filename: 'in.jsonl' });
      expect(info).toMatchObject({ name: 'file-1', size: data.length, meta: { owner: 'alice', filename: 'in.jsonl' } });
      const sha = createHash('sha256').update(data).digest('base64').replace(/\+/g, '-').replace(/\//g, '_');
      expect(info.digest).toBe(`SHA-256=${sha}`);
      expect(Math.abs(info.storedAtMs - Date.now())).toBeLessThan(5000);
      await a.put('file-2', enc('two'));

      const b = await (await conns.bus()).objectBucket(bucket);
      expect(dec((await b.get('file-1'))!)).toBe(dec(data));
      expect(await b.info('file-1')).toEqual(info);
      expect((await b.list()).map((o) => [o.name, o.size, o.meta])).toEqual([
        ['file-1', data.length, { owner: 'alice', filename: 'in.jsonl' }],
        ['file-2', 3, {}],
      ]);
      expect(await b.delete('file-1')).toBe(true);
      expect(await a.delete('file-1')).toBe(false);
      expect(await a.get('file-1')).toBeUndefined();
      expect(await a.info('file-1')).toBeUndefined();
      expect((await a.list()).map((o) => o.name)).toEqual(['file-2']);
    });

    it('a put under an existing name replaces the object; an empty object is an object', async () => {
      const bucket = await (await conns.bus()).objectBucket(unique('B'));
      await bucket.put('x', enc('first'), { v: '1' });
      const second = await bucket.put('x', enc('second, longer'), { v: '2' });
      expect(dec((await bucket.get('x'))!)).toBe('second, longer');
      expect(await bucket.info('x')).toEqual(second);
      await bucket.put('empty', new Uint8Array());
      expect(await bucket.get('empty')).toEqual(new Uint8Array());
      expect((await bucket.list()).map((o) => o.name).sort()).toEqual(['empty', 'x']);
    });

    it('buckets are separate', async () => {
      const bus = await conns.bus();
      const one = await bus.objectBucket(unique('B'));
      const two = await bus.objectBucket(unique('B'));
      await one.put('same-name', enc('one'));
      expect(await two.get('same-name')).toBeUndefined();
      expect(await two.list()).toEqual([]);
    });

    it('refuses a put past the bucket byte limit with conflict, keeping what it holds', async () => {
      const bucket = await (await conns.bus()).objectBucket(unique('B'), { maxBytes: 4096 });
      await bucket.put('small', new Uint8Array(1000));
      await expect(bucket.put('big', new Uint8Array(8192))).rejects.toMatchObject({ code: 'conflict' });
      expect((await bucket.info('small'))?.size).toBe(1000);
    });

    it('refuses bad bucket and object names with invalid, and calls after close with closed', async () => {
      const bus = await conns.bus();
      await expect(bus.objectBucket('has.dot')).rejects.toMatchObject({ code: 'invalid' });
      const bucket = await bus.objectBucket(unique('B'));
      await expect(bucket.put('a b', enc('x'))).rejects.toMatchObject({ code: 'invalid' });
      await expect(bucket.get('../etc')).rejects.toMatchObject({ code: 'invalid' });
      await bus.close();
      await expect(bucket.get('x')).rejects.toMatchObject({ code: 'closed' });
      await expect(bus.objectBucket('B2')).rejects.toMatchObject({ code: 'closed' });
    });
  });
}
