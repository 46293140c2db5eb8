import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { OutboxSpool } from '../src';

const event = (i: number) => ({ subject: 'tokenmesh.events.completion', msgId: `r${i}`, data: new Uint8Array([i, 255 - i]) });

describe('OutboxSpool', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'spool-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives back what was added and not acked, in order, data and headers intact, and rewrites the file with only those', () => {
    const a = OutboxSpool.open(dir, 'gateway');
    expect(a.recovered).toEqual([]);
    for (let i = 0; i < 4; i++) a.added(i === 2 ? { ...event(i), headers: { traceparent: 'x' } } : event(i));
    a.acked('tokenmesh.events.completion', 'r1');
    a.acked('tokenmesh.events.completion', 'unknown');
    a.close();
    const b = OutboxSpool.open(dir, 'gateway');
    expect(b.recovered).toEqual([event(0), { ...event(2), headers: { traceparent: 'x' } }, event(3)]);
    expect(readFileSync(join(dir, 'gateway.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    b.close();
  });

  it('skips a line torn by a crash', () => {
    const a = OutboxSpool.open(dir, 'gateway');
    a.added(event(0));
    a.close();
    appendFileSync(join(dir, 'gateway.jsonl'), '{"s":"tokenmesh.events.completion","m":"r1","d":"AA');
    const b = OutboxSpool.open(dir, 'gateway');
    expect(b.recovered.map((e) => e.msgId)).toEqual(['r0']);
    b.close();
  });

  it('compacts once most lines are acks, keeping what is pending', () => {
    const a = OutboxSpool.open(dir, 'gateway');
    a.added(event(-1));
    for (let i = 0; i < 3000; i++) {
      a.added(event(i));
      a.acked('tokenmesh.events.completion', `r${i}`);
    }
    expect(a.pending).toBe(1);
    // Compacted every 1024 acks: what is left is the pending event and the lines since.
    expect(readFileSync(join(dir, 'gateway.jsonl'), 'utf8').trim().split('\n').length).toBeLessThan(2 * 1024 + 1);
    a.close();
    const b = OutboxSpool.open(dir, 'gateway');
    expect(b.recovered.map((e) => e.msgId)).toEqual(['r-1']);
    b.close();
  });

  it('refuses a journal another live process holds, or one already open here, and takes over a dead owner', () => {
    const a = OutboxSpool.open(dir, 'gateway');
    expect(() => OutboxSpool.open(dir, 'gateway')).toThrow(/already open in this process/);
    a.close();
    // The parent of this test runner is alive and is not us.
    writeFileSync(join(dir, 'gateway.lock'), String(process.ppid));
    expect(() => OutboxSpool.open(dir, 'gateway')).toThrow(`the outbox journal in ${dir} is held by process ${process.ppid}`);
    // A pid that cannot exist: its owner crashed.
    writeFileSync(join(dir, 'gateway.lock'), '2147483646');
    OutboxSpool.open(dir, 'gateway').close();
  });
});
