import { waitFor } from '@tokenmesh/testing';

import { BusError, type BusMessage } from '../../src';
import { type BusFixture, Connections, dec, enc, pause, unique } from './fixture';

/** Core pub/sub: wildcards, headers, unsubscribe, handler errors, validation, close. */
export function coreContract(fixture: () => BusFixture): void {
  describe('core pub/sub', () => {
    const conns = new Connections(fixture);
    afterEach(() => conns.closeAll());

    it('delivers by NATS wildcard rules: * is one token, > is one or more trailing tokens', async () => {
      const [router, worker] = [await conns.bus(), await conns.bus()];
      const p = unique('hb');
      const star: string[] = [];
      const tail: string[] = [];
      await router.subscribe(`${p}.workers.heartbeat.*`, (m) => void star.push(m.subject));
      await router.subscribe(`${p}.workers.>`, (m) => void tail.push(m.subject));
      for (const s of ['workers.heartbeat.w1', 'workers.heartbeat.w1.x', 'workers', 'other.heartbeat.w2', 'workers.heartbeat.w2']) {
        worker.publish(`${p}.${s}`, enc('beat'));
      }
      // Per-publisher order holds, so once w2 is in, everything before it has been routed.
      await waitFor(() => star.includes(`${p}.workers.heartbeat.w2`) && tail.includes(`${p}.workers.heartbeat.w2`));
      expect(star).toEqual([`${p}.workers.heartbeat.w1`, `${p}.workers.heartbeat.w2`]);
      expect(tail).toEqual([`${p}.workers.heartbeat.w1`, `${p}.workers.heartbeat.w1.x`, `${p}.workers.heartbeat.w2`]);
    });

    it('carries payload bytes and string headers unchanged, names in their own case', async () => {
      const [a, b] = [await conns.bus(), await conns.bus()];
      const subject = unique('hdr');
      const got: BusMessage[] = [];
      await b.subscribe(subject, (m) => void got.push(m));
      const headers = {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
        'X-Request-Id': 'req 42',
      };
      a.publish(subject, new Uint8Array([0, 1, 127, 128, 255]), headers);
      a.publish(subject, enc(''));
      await waitFor(() => got.length === 2);
      expect(got[0]).toEqual({ subject, data: new Uint8Array([0, 1, 127, 128, 255]), headers });
      expect(got[1]).toEqual({ subject, data: new Uint8Array(), headers: {} });
    });

    it('stops delivering after unsubscribe, while other subscriptions go on; unsubscribe never throws', async () => {
      const [a, b] = [await conns.bus(), await conns.bus()];
      const subject = unique('unsub');
      const gone: string[] = [];
      const kept: string[] = [];
      const unsubscribe = await b.subscribe(subject, (m) => void gone.push(dec(m.data)));
      await b.subscribe(subject, (m) => void kept.push(dec(m.data)));
      a.publish(subject, enc('1'));
      await waitFor(() => gone.length === 1 && kept.length === 1);
      unsubscribe();
      unsubscribe(); // idempotent
      a.publish(subject, enc('2'));
      await waitFor(() => kept.length === 2);
      expect(gone).toEqual(['1']);
      await b.close();
      unsubscribe(); // and harmless after close
    });

    it('reports a failing handler to onError and keeps the subscription alive', async () => {
      const bus = await conns.bus();
      const subject = unique('err');
      const seen: string[] = [];
      await bus.subscribe(subject, async (m) => {
        seen.push(dec(m.data));
        if (dec(m.data) === 'bad') throw new Error('handler broke');
      });
      bus.publish(subject, enc('bad'));
      bus.publish(subject, enc('good'));
      await waitFor(() => seen.length === 2 && conns.errors.length === 1);
      expect((conns.errors[0] as Error).message).toBe('handler broke');
    });

    it('refuses what NATS cannot carry: wildcard publish subjects, bad header names and values', async () => {
      const bus = await conns.bus();
      const invalid = (fn: () => unknown): void => expect(fn).toThrow(expect.objectContaining({ code: 'invalid' }));
      invalid(() => bus.publish('a.*', enc('x')));
      invalid(() => bus.publish('a..b', enc('x')));
      invalid(() => bus.publish('a.b', enc('x'), { 'bad:name': 'v' }));
      invalid(() => bus.publish('a.b', enc('x'), { ok: 'line\nbreak' }));
      invalid(() => bus.publish('a.b', enc('x'), { 'Nats-Msg-Id': 'x' }));
      await expect(bus.subscribe('a.>.b', () => undefined)).rejects.toBeInstanceOf(BusError);
    });

    it('close waits for handlers in progress, then refuses to publish', async () => {
      const [a, b] = [await conns.bus(), await conns.bus()];
      const subject = unique('close');
      let started = false;
      let finished = false;
      await b.subscribe(subject, async () => {
        started = true;
        await pause(50);
        finished = true;
      });
      a.publish(subject, enc('work'));
      await waitFor(() => started);
      await b.close();
      expect(finished).toBe(true);
      expect(() => b.publish(subject, enc('late'))).toThrow(expect.objectContaining({ code: 'closed' }));
    });
  });
}
