import { waitFor } from '@tokenmesh/testing';

import type { DurableMessage, PublishAck } from '../../src';
import { ackInto, type BusFixture, Connections, dec, enc, pause, unique } from './fixture';

/** Durable streams: publish, consume, ack, msgId dedup, resuming consumers, work queues. */
export function durableContract(fixture: () => BusFixture): void {
  describe('durable streams', () => {
    const conns = new Connections(fixture);
    afterEach(() => conns.closeAll());

    async function stream(retention: 'limits' | 'workqueue', duplicateWindowMs?: number) {
      const bus = await conns.bus();
      const name = unique('S');
      const subject = `${name.toLowerCase()}.events`;
      await bus.ensureStream({ name, subjects: [`${subject}.>`], retention, ...(duplicateWindowMs ? { duplicateWindowMs } : {}) });
      return { bus, name, subject };
    }

    it('delivers durable messages in order with subject, payload, headers and msgId', async () => {
      const { bus, name, subject } = await stream('limits');
      const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
      const acks: PublishAck[] = [];
      for (const n of [1, 2, 3]) acks.push(await bus.publishDurable(`${subject}.completion`, enc(`e${n}`), { msgId: `id-${n}`, headers }));
      expect(acks.map((a) => [a.stream, a.duplicate])).toEqual([
        [name, false],
        [name, false],
        [name, false],
      ]);
      expect(acks[1]!.seq).toBe(acks[0]!.seq + 1);
      const got: DurableMessage[] = [];
      await bus.consume(name, 'feedback', (m) => {
        got.push(m);
        m.ack();
      });
      await waitFor(() => got.length === 3);
      expect(got.map((m) => [m.subject, dec(m.data), m.msgId, m.seq, m.deliveryCount, m.redelivered])).toEqual(
        [1, 2, 3].map((n, i) => [`${subject}.completion`, `e${n}`, `id-${n}`, acks[i]!.seq, 1, false]),
      );
      expect(got[0]!.headers).toEqual(headers);
    });

    it("reports a durable consumer's lag: never delivered plus delivered and unacked, 0 before it exists", async () => {
      const { bus, name, subject } = await stream('limits');
      for (const n of [1, 2, 3, 4]) await bus.publishDurable(`${subject}.x`, enc(`e${n}`));
      expect(await bus.consumerLag(name, 'lagging')).toBe(0);
      const held: DurableMessage[] = [];
      const consumption = await bus.consume(name, 'lagging', (m) => {
        // Acks the first two only: the others stay delivered and unacked.
        if (held.push(m) <= 2) m.ack();
      });
      await waitFor(() => held.length === 4);
      await waitFor(async () => (await bus.consumerLag(name, 'lagging')) === 2);
      await bus.publishDurable(`${subject}.x`, enc('e5'));
      await consumption.stop();
      await waitFor(async () => (await bus.consumerLag(name, 'lagging')) === 3);
      await expect(bus.consumerLag('NO_SUCH_STREAM', 'x')).rejects.toMatchObject({ code: 'stream-not-found' });
    });

    it('stores a msgId once within the dedup window and reports the duplicate', async () => {
      const { bus, name, subject } = await stream('limits');
      const first = await bus.publishDurable(`${subject}.x`, enc('a'), { msgId: 'same' });
      const again = await bus.publishDurable(`${subject}.x`, enc('b'), { msgId: 'same' });
      expect(again).toEqual({ stream: name, seq: first.seq, duplicate: true });
      await bus.publishDurable(`${subject}.x`, enc('end'));
      const got: string[] = [];
      await bus.consume(name, 'c', ackInto(got));
      await waitFor(() => got.includes('end'));
      expect(got).toEqual(['a', 'end']);
    });

    it('accepts a msgId again once the dedup window has passed', async () => {
      const { bus, subject } = await stream('limits', 100);
      const t0 = Date.now();
      await bus.publishDurable(`${subject}.x`, enc('a'), { msgId: 'w' });
      await waitFor(async () => !(await bus.publishDurable(`${subject}.x`, enc('a'), { msgId: 'w' })).duplicate, { intervalMs: 20 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    });

    it('resumes a durable consumer after reconnect with only the un-acked messages; a new durable sees all', async () => {
      const { bus: producer, name, subject } = await stream('limits');
      for (const n of [1, 2, 3]) await producer.publishDurable(`${subject}.e`, enc(`m${n}`));
      const first = await conns.bus();
      const firstSeen: string[] = [];
      await first.consume(
        name,
        'feedback',
        (m) => {
          firstSeen.push(dec(m.data));
          if (dec(m.data) !== 'm3') m.ack(); // m3 is left un-acked: the consumer "crashes" with it
        },
        { ackWaitMs: 200 },
      );
      await waitFor(() => firstSeen.length === 3);
      await first.close();
      await producer.publishDurable(`${subject}.e`, enc('m4'));

      const second = await conns.bus();
      const resumed: DurableMessage[] = [];
      await second.consume(
        name,
        'feedback',
        (m) => {
          resumed.push(m);
          m.ack();
        },
        { ackWaitMs: 200 },
      );
      await waitFor(() => resumed.length === 2);
      expect(resumed.map((m) => [dec(m.data), m.redelivered]).sort()).toEqual([
        ['m3', true],
        ['m4', false],
      ]);

      const audit: string[] = [];
      await second.consume(name, 'audit', ackInto(audit));
      await waitFor(() => audit.length === 4);
      expect(audit).toEqual(['m1', 'm2', 'm3', 'm4']);
    });

    it('work queue: an acked job is gone for good, an un-acked one comes back; one consumer per queue', async () => {
      const { bus, name, subject } = await stream('workqueue');
      await bus.publishDurable(`${subject}.job`, enc('j1'));
      await bus.publishDurable(`${subject}.job`, enc('j2'));
      const worker = await conns.bus();
      const seen: string[] = [];
      await worker.consume(
        name,
        'jobs',
        (m) => {
          seen.push(dec(m.data));
          if (dec(m.data) === 'j1') m.ack();
        },
        { ackWaitMs: 200 },
      );
      await waitFor(() => seen.length === 2);
      await worker.close();
      await expect(bus.consume(name, 'other', () => undefined)).rejects.toMatchObject({ code: 'conflict' });

      const again: string[] = [];
      await bus.consume(name, 'jobs', ackInto(again), { ackWaitMs: 200 });
      await waitFor(() => again.length === 1);
      await bus.publishDurable(`${subject}.job`, enc('j3'));
      await waitFor(() => again.length === 2);
      expect(again).toEqual(['j2', 'j3']);
    });

    it('hands at most `concurrency` messages to the handler at once', async () => {
      const { bus, name, subject } = await stream('limits');
      for (let n = 0; n < 6; n++) await bus.publishDurable(`${subject}.e`, enc(String(n)));
      let inFlight = 0;
      let peak = 0;
      const done: string[] = [];
      await bus.consume(
        name,
        'c',
        async (m) => {
          peak = Math.max(peak, ++inFlight);
          await pause(30);
          inFlight--;
          done.push(dec(m.data));
          m.ack();
        },
        { concurrency: 3 },
      );
      await waitFor(() => done.length === 6);
      expect(peak).toBe(3);
    });
  });
}
