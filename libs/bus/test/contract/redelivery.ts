import { waitFor } from '@tokenmesh/testing';

import type { DurableMessage } from '../../src';
import { type BusFixture, Connections, dec, enc, pause, unique } from './fixture';

/** At-least-once: nak, ack wait, failing handlers, maxDeliver, working(). */
export function redeliveryContract(fixture: () => BusFixture): void {
  describe('redelivery', () => {
    const conns = new Connections(fixture);
    afterEach(() => conns.closeAll());

    /** A limits stream holding `payloads`, and a log of (payload, deliveryCount, ms since start). */
    async function setup(payloads: string[]) {
      const bus = await conns.bus();
      const name = unique('R');
      const subject = `${name.toLowerCase()}.e`;
      await bus.ensureStream({ name, subjects: [subject], retention: 'limits' });
      const t0 = Date.now();
      for (const p of payloads) await bus.publishDurable(subject, enc(p));
      const log: { data: string; count: number; at: number }[] = [];
      const record = (m: DurableMessage): void => void log.push({ data: dec(m.data), count: m.deliveryCount, at: Date.now() - t0 });
      return { bus, name, subject, log, record };
    }

    it('redelivers a nak-ed message at once, and after the delay when one is given', async () => {
      const { bus, name, log, record } = await setup(['now', 'later']);
      await bus.consume(
        name,
        'c',
        (m) => {
          record(m);
          if (m.redelivered) m.ack();
          else if (dec(m.data) === 'now') m.nak();
          else m.nak(150);
        },
        { concurrency: 2 },
      );
      await waitFor(() => log.length === 4);
      const now = log.filter((e) => e.data === 'now');
      const later = log.filter((e) => e.data === 'later');
      expect([now.map((e) => e.count), later.map((e) => e.count)]).toEqual([
        [1, 2],
        [1, 2],
      ]);
      expect(now[1]!.at - now[0]!.at).toBeLessThan(150);
      expect(later[1]!.at - later[0]!.at).toBeGreaterThanOrEqual(140);
    });

    it('redelivers a message left unsettled once the ack wait has passed', async () => {
      const { bus, name, log, record } = await setup(['forgotten']);
      await bus.consume(
        name,
        'c',
        (m) => {
          record(m);
          if (m.redelivered) m.ack();
        },
        { ackWaitMs: 200 },
      );
      await waitFor(() => log.length === 2);
      expect(log.map((e) => e.count)).toEqual([1, 2]);
      expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(190);
    });

    it('nak-s the message of a handler that throws and reports the error', async () => {
      const { bus, name, log, record } = await setup(['poison?']);
      await bus.consume(name, 'c', (m) => {
        record(m);
        if (!m.redelivered) throw new Error('transient failure');
        m.ack();
      });
      await waitFor(() => log.length === 2);
      expect(log.map((e) => e.count)).toEqual([1, 2]);
      expect(conns.errors).toEqual([expect.objectContaining({ message: 'transient failure' })]);
    });

    it('gives up on a message after maxDeliver deliveries and moves on', async () => {
      const { bus, name, subject, log, record } = await setup(['poison']);
      await bus.consume(
        name,
        'c',
        (m) => {
          record(m);
          if (dec(m.data) === 'poison') m.nak();
          else m.ack();
        },
        { maxDeliver: 3 },
      );
      await waitFor(() => log.length === 3);
      await bus.publishDurable(subject, enc('next'));
      await waitFor(() => log.some((e) => e.data === 'next'));
      await pause(50); // a fourth delivery would follow the third nak at once
      expect(log.map((e) => `${e.data}#${e.count}`)).toEqual(['poison#1', 'poison#2', 'poison#3', 'next#1']);
    });

    it('working() restarts the ack wait, so a slow handler is not raced by a redelivery', async () => {
      const { bus, name, log, record } = await setup(['slow']);
      let acked = false;
      // 360 ms of work against a 200 ms ack wait; a second slot is free to take a redelivery.
      await bus.consume(
        name,
        'c',
        async (m) => {
          record(m);
          for (let i = 0; i < 3; i++) {
            await pause(120);
            m.working();
          }
          m.ack();
          acked = true;
        },
        { ackWaitMs: 200, concurrency: 2 },
      );
      await waitFor(() => acked);
      expect(log.map((e) => e.count)).toEqual([1]);
    });
  });
}
