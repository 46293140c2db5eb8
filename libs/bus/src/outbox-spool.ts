import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import type { Headers } from './headers';

/** An event the outbox holds until the stream acks it, as the spool keeps it. */
export interface SpooledEvent {
  readonly subject: string;
  readonly msgId: string;
  readonly data: Uint8Array;
  readonly headers?: Headers;
}

/** One journal line: an event added, or the ack of one. */
type Line = { readonly s: string; readonly m: string; readonly d: string; readonly h?: Headers } | { readonly s: string; readonly ack: string };

/** Acks between two compactions at least: a rewrite costs the pending events, so it waits until most lines are dead. */
const COMPACT_AFTER_ACKS = 1024;

const key = (subject: string, msgId: string) => `${subject}\u0000${msgId}`;

/**
 * The outbox's journal on disk, so that events waiting for JetStream survive a crash of the
 * process (kill -9, OOM kill, a panic) while NATS is away: `<dir>/<name>.jsonl`, one line per
 * event added and one per event acked, written with write(2) as they happen (in the page cache
 * at once, so a process crash keeps them; not fsync'ed, so a crash of the machine may lose the
 * last ones). Opening it reads back what was added and never acked, in order, and rewrites the
 * file with only those; a line torn by the crash is skipped. While running, the file is
 * rewritten the same way once enough acks make most of it dead.
 *
 * One process per journal: `<name>.lock` holds the owner's pid; a lock whose process is gone is
 * taken over, a live one refuses the open (two replicas must not share an outbox directory).
 */
export class OutboxSpool {
  private fd: number;
  private readonly live = new Map<string, string>();
  private acksSinceCompaction = 0;
  private closed = false;

  private constructor(
    private readonly file: string,
    private readonly lock: string,
    /** What was pending when the spool was opened, in the order it was added. */
    readonly recovered: readonly SpooledEvent[],
  ) {
    for (const e of recovered) this.live.set(key(e.subject, e.msgId), encode(e));
    this.fd = this.rewrite();
  }

  /** Opens (creating) the journal `name` in `dir`. @throws when another live process holds it, naming the directory. */
  static open(dir: string, name: string): OutboxSpool {
    mkdirSync(dir, { recursive: true });
    const lock = join(dir, `${name}.lock`);
    takeLock(lock, dir);
    const file = join(dir, `${name}.jsonl`);
    return new OutboxSpool(file, lock, existsSync(file) ? readPending(readFileSync(file, 'utf8')) : []);
  }

  /** The event was taken by the outbox. */
  added(e: SpooledEvent): void {
    if (this.closed) return;
    const line = encode(e);
    this.live.set(key(e.subject, e.msgId), line);
    writeSync(this.fd, line);
  }

  /** The stream acked the event (or refused it for good): it is not replayed after a restart. */
  acked(subject: string, msgId: string): void {
    if (this.closed || !this.live.delete(key(subject, msgId))) return;
    writeSync(this.fd, JSON.stringify({ s: subject, ack: msgId } satisfies Line) + '\n');
    if (++this.acksSinceCompaction >= COMPACT_AFTER_ACKS && this.acksSinceCompaction > this.live.size) {
      closeSync(this.fd);
      this.fd = this.rewrite();
    }
  }

  /** Events written and not acked. */
  get pending(): number {
    return this.live.size;
  }

  /** Closes the journal and releases the lock; what is pending stays in it for the next open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    unlinkSync(this.lock);
    held.delete(this.lock);
  }

  /** Writes the live events to a new file, swapped in by rename (a crash keeps the old or the new one whole); returns it open for appending. */
  private rewrite(): number {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, [...this.live.values()].join(''));
    renameSync(tmp, this.file);
    this.acksSinceCompaction = 0;
    return openSync(this.file, 'a');
  }
}

function encode(e: SpooledEvent): string {
  const line: Line = { s: e.subject, m: e.msgId, d: Buffer.from(e.data).toString('base64'), ...(e.headers ? { h: e.headers } : {}) };
  return JSON.stringify(line) + '\n';
}

/** The events of a journal added and never acked, in the order of their first line. */
function readPending(text: string): SpooledEvent[] {
  const pending = new Map<string, SpooledEvent>();
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      continue; // the last line, torn by the crash
    }
    if ('ack' in line) pending.delete(key(line.s, line.ack));
    else
      pending.set(key(line.s, line.m), {
        subject: line.s,
        msgId: line.m,
        data: new Uint8Array(Buffer.from(line.d, 'base64')),
        ...(line.h ? { headers: line.h } : {}),
      });
  }
  return [...pending.values()];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks this process holds: a pid in a lock file equal to ours is a previous incarnation's (a container restarted as pid 1 again). */
const held = new Set<string>();

function takeLock(lock: string, dir: string): void {
  if (held.has(lock)) throw new Error(`the outbox journal in ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      held.add(lock);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSync(lock, 'utf8'));
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new Error(`the outbox journal in ${dir} is held by process ${owner}: each process needs its own outbox directory`);
    }
    unlinkSync(lock); // its owner is gone (a crash): take it over
  }
  throw new Error(`could not take the outbox lock ${lock}`);
}
