import { waitFor } from '@tokenmesh/testing';

import { ackInto, type BusFixture, Connections, enc, unique } from './fixture';

/** Creating and updating streams, and the errors callers can branch on. */
export function streamAdminContract(fixture: () => BusFixture): void {
  describe('stream administration', () => {
    const conns = new Connections(fixture);
    afterEach(() => conns.closeAll());

    it('ensureStream is idempotent and updates the subjects of an existing stream', async () => {
      const bus = await conns.bus();
      const name = unique('A');
      const p = name.toLowerCase();
      await bus.ensureStream({ name, subjects: [`${p}.a`], retention: 'limits' });
      await bus.ensureStream({ name, subjects: [`${p}.a`], retention: 'limits' });
      await expect(bus.publishDurable(`${p}.b`, enc('b'))).rejects.toMatchObject({ code: 'no-stream' });
      await bus.ensureStream({ name, subjects: [`${p}.a`, `${p}.b`], retention: 'limits', duplicateWindowMs: 1000 });
      await bus.publishDurable(`${p}.a`, enc('a'));
      await bus.publishDurable(`${p}.b`, enc('b'));
      const got: string[] = [];
      await bus.consume(name, 'c', ackInto(got));
      await waitFor(() => got.length === 2);
      expect(got).toEqual(['a', 'b']);
    });

    it('countMessages counts the stored messages on matching subjects; acked work-queue messages are gone', async () => {
      const bus = await conns.bus();
      const name = unique('A');
      const p = name.toLowerCase();
      await bus.ensureStream({ name, subjects: [`${p}.>`], retention: 'limits' });
      for (const s of ['b1.ok', 'b1.ok', 'b1.failed', 'b2.ok']) await bus.publishDurable(`${p}.${s}`, enc(s));
      expect(await bus.countMessages(name, `${p}.b1.*`)).toBe(3);
      expect(await bus.countMessages(name, `${p}.b1.ok`)).toBe(2);
      expect(await bus.countMessages(name, `${p}.b3.>`)).toBe(0);
      expect(await bus.countMessages(name, `${p}.>`)).toBe(4);
      await expect(bus.countMessages(unique('NONE'), 'x')).rejects.toMatchObject({ code: 'stream-not-found' });

      const work = unique('W');
      const w = work.toLowerCase();
      await bus.ensureStream({ name: work, subjects: [`${w}.>`], retention: 'workqueue' });
      for (const n of [1, 2]) await bus.publishDurable(`${w}.job`, enc(`j${n}`));
      expect(await bus.countMessages(work, `${w}.job`)).toBe(2);
      const got: string[] = [];
      await bus.consume(work, 'workers', ackInto(got));
      await waitFor(() => got.length === 2);
      await waitFor(async () => (await bus.countMessages(work, `${w}.job`)) === 0);
    });

    it('refuses a retention change and subjects that overlap another stream', async () => {
      const bus = await conns.bus();
      const name = unique('A');
      const p = name.toLowerCase();
      await bus.ensureStream({ name, subjects: [`${p}.events.>`], retention: 'limits' });
      await expect(bus.ensureStream({ name, subjects: [`${p}.events.>`], retention: 'workqueue' })).rejects.toMatchObject({ code: 'conflict' });
      await expect(bus.ensureStream({ name: `${name}X`, subjects: [`${p}.events.*.done`], retention: 'limits' })).rejects.toMatchObject({ code: 'conflict' });
    });

    it('names the problem: no stream for a subject, unknown stream, invalid names', async () => {
      const bus = await conns.bus();
      await expect(bus.publishDurable(unique('nowhere.'), enc('x'))).rejects.toMatchObject({ code: 'no-stream' });
      await expect(bus.consume(unique('MISSING'), 'c', () => undefined)).rejects.toMatchObject({ code: 'stream-not-found' });
      await expect(bus.ensureStream({ name: 'has.dot', subjects: ['x'], retention: 'limits' })).rejects.toMatchObject({ code: 'invalid' });
      await expect(bus.ensureStream({ name: unique('E'), subjects: [], retention: 'limits' })).rejects.toMatchObject({ code: 'invalid' });
      await expect(bus.consume('S', 'bad name', () => undefined)).rejects.toMatchObject({ code: 'invalid' });
      await expect(bus.consume('S', 'c', () => undefined, { ackWaitMs: 0 })).rejects.toMatchObject({ code: 'invalid' });
    });
  });
}
