import { type ServerHandle, startNats, waitFor } from '@tokenmesh/testing';

import { NatsBus, Outbox } from '../src';

const STREAM = { name: 'OUTBOX_EVENTS', subjects: ['outbox.>'], retention: 'limits' as const };
const enc = (s: string) => new TextEncoder().encode(s);

describe('Outbox over NATS JetStream through a server outage', () => {
  let nats: ServerHandle;
  let bus: NatsBus;

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    bus = await NatsBus.connect(nats.url, { reconnectWaitMs: 100 });
    await bus.ensureStream(STREAM);
  });
  afterAll(async () => {
    await bus?.close();
    await nats?.stop();
  });

  it('delivers every event added before, during and after the outage exactly once', async () => {
    const outbox = new Outbox(bus, { initialBackoffMs: 50, maxBackoffMs: 500 });
    const ids: string[] = [];
    const add = (i: number) => {
      ids.push(`e${i}`);
      expect(outbox.add('outbox.completion', enc(`event ${i}`), `e${i}`)).toBe(true);
    };
    for (let i = 0; i < 20; i++) add(i);
    await nats.kill('SIGKILL');
    await waitFor(() => !bus.connected, { timeoutMs: 10_000 });
    for (let i = 20; i < 50; i++) add(i);
    expect(outbox.depth).toBeGreaterThan(0);
    // The same port and JetStream store: the bus reconnects and the stream (and its dedup window) survive.
    await nats.restart();
    await waitFor(() => outbox.depth === 0, { timeoutMs: 60_000 });
    for (let i = 50; i < 60; i++) add(i);
    expect(await outbox.close(10_000)).toBe(0);

    const seen = new Map<string, number>();
    const consumption = await bus.consume(STREAM.name, 'outbox-check', (m) => {
      seen.set(m.msgId!, (seen.get(m.msgId!) ?? 0) + 1);
      m.ack();
    });
    await waitFor(() => seen.size >= ids.length, { timeoutMs: 20_000 });
    await consumption.stop();
    expect([...seen.keys()].sort()).toEqual([...ids].sort());
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  }, 120_000);
});
