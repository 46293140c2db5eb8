import { type DurableMessage, MemoryBroker, MemoryBus, Outbox } from '../src';

const STREAM = { name: 'EVENTS', subjects: ['ev.>'], retention: 'limits' as const };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function waitUntil(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reads every message of the stream, from the start, as `subject:payload`. */
async function readAll(bus: MemoryBus, count: number): Promise<string[]> {
  const seen: string[] = [];
  const c = await bus.consume(STREAM.name, `reader-${Math.random().toString(36).slice(2)}`, (m: DurableMessage) => {
    seen.push(`${m.subject}:${dec(m.data)}`);
    m.ack();
  });
  await waitUntil(() => seen.length >= count, `${count} messages`);
  await c.stop();
  return seen;
}

describe('Outbox', () => {
  let bus: MemoryBus;
  let outbox: Outbox | undefined;
  const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
  const logger = { warn: (msg: string, fields?: Record<string, unknown>) => logs.push({ msg, ...(fields ? { fields } : {}) }) };

  beforeEach(() => {
    bus = new MemoryBus({ broker: new MemoryBroker() });
    logs.length = 0;
  });
  afterEach(async () => {
    await outbox?.close(0);
    await bus.close();
  });

  it('retries until the stream takes the events, then delivers each once, in order per subject', async () => {
    const depths: number[] = [];
    outbox = new Outbox(bus, { initialBackoffMs: 5, maxBackoffMs: 20, onDepth: (d) => depths.push(d) });
    // No stream yet: every publish fails with no-stream, as while JetStream is unreachable.
    for (let i = 0; i < 5; i++) outbox.add('ev.a', enc(`a${i}`), `a${i}`);
    for (let i = 0; i < 3; i++) outbox.add('ev.b', enc(`b${i}`), `b${i}`);
    expect(outbox.depth).toBe(8);
    await new Promise((r) => setTimeout(r, 50));
    expect(outbox.depth).toBe(8);
    await bus.ensureStream(STREAM);
    await waitUntil(() => outbox!.depth === 0, 'the outbox to drain');
    const seen = await readAll(bus, 8);
    expect(seen).toHaveLength(8);
    expect(seen.filter((s) => s.startsWith('ev.a'))).toEqual(['ev.a:a0', 'ev.a:a1', 'ev.a:a2', 'ev.a:a3', 'ev.a:a4']);
    expect(seen.filter((s) => s.startsWith('ev.b'))).toEqual(['ev.b:b0', 'ev.b:b1', 'ev.b:b2']);
    expect(Math.max(...depths)).toBe(8);
    expect(depths.at(-1)).toBe(0);
  });

  it('passes the msgId, so an event added twice is stored once', async () => {
    await bus.ensureStream(STREAM);
    outbox = new Outbox(bus);
    outbox.add('ev.a', enc('x'), 'same-id');
    outbox.add('ev.a', enc('x'), 'same-id');
    outbox.add('ev.a', enc('y'), 'other-id');
    await waitUntil(() => outbox!.depth === 0, 'the outbox to drain');
    expect(await readAll(bus, 2)).toEqual(['ev.a:x', 'ev.a:y']);
  });

  it('when full refuses the newest events, counts them, and logs the start and the end of the episode', async () => {
    const shed: string[] = [];
    outbox = new Outbox(bus, { capacity: 3, initialBackoffMs: 5, maxBackoffMs: 10, onShed: (s) => shed.push(s), logger });
    expect([1, 2, 3, 4, 5].map((i) => outbox!.add('ev.a', enc(`e${i}`), `e${i}`))).toEqual([true, true, true, false, false]);
    expect(shed).toEqual(['ev.a', 'ev.a']);
    expect(logs.map((l) => l.msg)).toEqual(['outbox full, refusing new events']);
    await bus.ensureStream(STREAM);
    await waitUntil(() => outbox!.depth === 0, 'the outbox to drain');
    expect(outbox.add('ev.a', enc('e6'), 'e6')).toBe(true);
    expect(logs.at(-1)).toEqual({ msg: 'outbox stopped shedding', fields: { shed: 2 } });
    await waitUntil(() => outbox!.depth === 0, 'the outbox to drain');
    expect(await readAll(bus, 4)).toEqual(['ev.a:e1', 'ev.a:e2', 'ev.a:e3', 'ev.a:e6']);
  });

  it('close flushes what it can within the grace, then reports what is left and refuses more', async () => {
    await bus.ensureStream(STREAM);
    outbox = new Outbox(bus, { logger });
    for (let i = 0; i < 20; i++) outbox.add('ev.a', enc(`e${i}`), `e${i}`);
    expect(await outbox.close(5000)).toBe(0);
    expect(outbox.add('ev.a', enc('late'), 'late')).toBe(false);
    expect(await readAll(bus, 20)).toHaveLength(20);

    const stuck = new Outbox(bus, { logger, initialBackoffMs: 5 });
    stuck.add('other.subject', enc('x'), 'x'); // no stream holds it: retried until close
    expect(await stuck.close(30)).toBe(1);
    expect(logs.at(-1)).toEqual({ msg: 'outbox closed with events unpublished', fields: { left: 1 } });
  });

  it('drops an event the bus refuses as invalid instead of retrying it forever', async () => {
    await bus.ensureStream(STREAM);
    outbox = new Outbox(bus, { logger });
    outbox.add('ev.a', enc('bad'), 'bad', { 'bad header': 'x' });
    outbox.add('ev.a', enc('good'), 'good');
    await waitUntil(() => outbox!.depth === 0, 'the outbox to drain');
    expect(await readAll(bus, 1)).toEqual(['ev.a:good']);
    expect(logs.map((l) => l.msg)).toEqual(['event dropped: the bus refused it']);
  });
});
