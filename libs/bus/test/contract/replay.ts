import { waitFor } from '@tokenmesh/testing';

import type { PublishAck, ReplayedMessage } from '../../src';
import { ackInto, type BusFixture, Connections, dec, enc, unique } from './fixture';

/** Replay: a stream read from its first message to its last at the call, beside durable consumers. */
export function replayContract(fixture: () => BusFixture): void {
  describe('replay', () => {
    const conns = new Connections(fixture);
    afterEach(() => conns.closeAll());

    async function stream() {
      const bus = await conns.bus();
      const name = unique('R');
      const subject = `${name.toLowerCase()}.events`;
      await bus.ensureStream({ name, subjects: [`${subject}.>`], retention: 'limits' });
      return { bus, name, subject };
    }

    it('hands over every message from the first, in order, with subject, payload, headers, msgId and seq; acked ones too', async () => {
      const { bus, name, subject } = await stream();
      const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
      const acks: PublishAck[] = [];
      for (const n of [1, 2, 3]) acks.push(await bus.publishDurable(`${subject}.e${n}`, enc(`m${n}`), { msgId: `id-${n}`, headers }));
      // A durable consumer acks them all first: a replay still sees them (limits retention).
      const consumed: string[] = [];
      await bus.consume(name, 'live', ackInto(consumed));
      await waitFor(() => consumed.length === 3);

      const got: ReplayedMessage[] = [];
      const summary = await bus.replay(name, (m) => void got.push(m));
      expect(summary).toEqual({ messages: 3, lastSeq: acks[2]!.seq });
      expect(got.map((m) => [m.stream, m.subject, dec(m.data), m.msgId, m.seq])).toEqual(
        [1, 2, 3].map((n, i) => [name, `${subject}.e${n}`, `m${n}`, `id-${n}`, acks[i]!.seq]),
      );
      expect(got[0]!.headers).toEqual(headers);
    });

    it('ends at the last message stored before the call, awaiting each handler; later messages go to consumers, not the replay', async () => {
      const { bus, name, subject } = await stream();
      for (const n of [1, 2]) await bus.publishDurable(`${subject}.e`, enc(`m${n}`));
      const got: string[] = [];
      let inHandler = 0;
      let overlapped = false;
      const summary = await bus.replay(name, async (m) => {
        if (inHandler++ > 0) overlapped = true;
        got.push(dec(m.data));
        // Published while the replay runs: after the replay's end.
        await bus.publishDurable(`${subject}.e`, enc(`late-${dec(m.data)}`));
        inHandler--;
      });
      expect(got).toEqual(['m1', 'm2']);
      expect(summary.messages).toBe(2);
      expect(overlapped).toBe(false);

      const audit: string[] = [];
      await bus.consume(name, 'audit', ackInto(audit));
      await waitFor(() => audit.length === 4);
      expect(audit).toEqual(['m1', 'm2', 'late-m1', 'late-m2']);
      // A second replay reads everything again, the late messages included.
      const again: string[] = [];
      expect((await bus.replay(name, (m) => void again.push(dec(m.data)))).messages).toBe(4);
      expect(again).toEqual(audit);
    });

    it('filters by subject pattern (one or several), and resolves at once for an empty stream or no match', async () => {
      const { bus, name, subject } = await stream();
      expect(await bus.replay(name, () => undefined)).toEqual({ messages: 0, lastSeq: 0 });
      await bus.publishDurable(`${subject}.a`, enc('a1'));
      await bus.publishDurable(`${subject}.b.x`, enc('b1'));
      await bus.publishDurable(`${subject}.c`, enc('c1'));
      const last = await bus.publishDurable(`${subject}.a`, enc('a2'));

      const one: string[] = [];
      expect(await bus.replay(name, (m) => void one.push(dec(m.data)), { subjects: [`${subject}.a`] })).toEqual({ messages: 2, lastSeq: last.seq });
      expect(one).toEqual(['a1', 'a2']);
      const two: string[] = [];
      await bus.replay(name, (m) => void two.push(dec(m.data)), { subjects: [`${subject}.b.>`, `${subject}.c`] });
      expect(two).toEqual(['b1', 'c1']);
      // The last matching message is not the stream's last: the replay still ends.
      const early: string[] = [];
      await bus.replay(name, (m) => void early.push(dec(m.data)), { subjects: [`${subject}.b.*`] });
      expect(early).toEqual(['b1']);
      expect(await bus.replay(name, () => undefined, { subjects: [`${subject}.none`] })).toEqual({ messages: 0, lastSeq: last.seq });
    });

    it('rejects with the handler error and stops reading; names an unknown stream and a bad pattern', async () => {
      const { bus, name, subject } = await stream();
      for (const n of [1, 2, 3]) await bus.publishDurable(`${subject}.e`, enc(`m${n}`));
      const seen: string[] = [];
      await expect(
        bus.replay(name, (m) => {
          seen.push(dec(m.data));
          if (dec(m.data) === 'm2') throw new Error('store down');
        }),
      ).rejects.toThrow('store down');
      expect(seen).toEqual(['m1', 'm2']);
      await expect(bus.replay(unique('MISSING'), () => undefined)).rejects.toMatchObject({ code: 'stream-not-found' });
      await expect(bus.replay(name, () => undefined, { subjects: ['bad pattern'] })).rejects.toMatchObject({ code: 'invalid' });
    });
  });
}
