import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';

import { type ServerHandle, startNats, waitFor } from '@tokenmesh/testing';

import { NatsBus, Outbox, OutboxSpool } from '../src';

const STREAM = 'CRASH_EVENTS';

/** The child of fixtures/outbox-crash-child.ts: send a command, read its one-line answer. */
function child(url: string, dir: string): { proc: ChildProcess; ask: (cmd: string) => Promise<string>; ready: Promise<string> } {
  const proc = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, 'fixtures', 'outbox-crash-child.ts'), url, dir, STREAM], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: Interface = createInterface({ input: proc.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
  const ready = next();
  return { proc, ready, ask: (cmd) => (proc.stdin!.write(`${cmd}\n`), next()) };
}

// A real crash: the process holding the events is SIGKILLed while NATS is away; the next process
// on the same outbox directory publishes what it held, and nothing published before is repeated.
describe('a journaled outbox through a crash of its process during a NATS outage', () => {
  let nats: ServerHandle;
  let dir: string;
  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    dir = mkdtempSync(join(tmpdir(), 'outbox-spool-'));
  });
  afterAll(async () => {
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes every event exactly once, those of the crashed process from its journal, headers kept', async () => {
    const c = child(nats.url, dir);
    try {
      expect(await c.ready).toBe('ready');
      await c.ask('add 0 5');
      await waitFor(async () => (await c.ask('depth')) === 'depth 0', { timeoutMs: 10_000, intervalMs: 50 });
      await nats.kill('SIGKILL');
      expect(await c.ask('add 5 25')).toBe('added 20');
    } finally {
      c.proc.kill('SIGKILL');
    }
    await new Promise((r) => c.proc.once('exit', r));
    await nats.restart();

    const bus = await NatsBus.connect(nats.url, { reconnectWaitMs: 100 });
    try {
      // The crashed process's lock names a dead pid: taken over.
      const outbox = new Outbox(bus, { spool: OutboxSpool.open(dir, 'child') });
      expect(outbox.depth).toBe(20);
      await waitFor(() => outbox.depth === 0, { timeoutMs: 30_000 });
      expect(await outbox.close()).toBe(0);

      const seen = new Map<string, number>();
      const headers = new Map<string, string | undefined>();
      const consumption = await bus.consume(STREAM, 'crash-check', (m) => {
        seen.set(m.msgId!, (seen.get(m.msgId!) ?? 0) + 1);
        headers.set(m.msgId!, m.headers?.['traceparent']);
        m.ack();
      });
      await waitFor(() => seen.size >= 25, { timeoutMs: 20_000 });
      await new Promise((r) => setTimeout(r, 200));
      await consumption.stop();
      expect([...seen.keys()].sort()).toEqual(Array.from({ length: 25 }, (_, i) => `e${i}`).sort());
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect(headers.get('e7')).toBe('t7');
      // Reopened after a clean close: nothing left to replay.
      const again = OutboxSpool.open(dir, 'child');
      expect(again.recovered).toEqual([]);
      again.close();
    } finally {
      await bus.close();
    }
  }, 120_000);
});
