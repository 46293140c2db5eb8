import { ABANDONED, abortable, observe } from '../src';

async function* count(n: number, fail?: Error) {
  for (let i = 0; i < n; i++) yield i;
  if (fail) throw fail;
}

/** A source whose reads never settle, like a handler that ignores its cancellation. */
const stuck: AsyncIterable<number> = { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<number>>(() => undefined) }) };

describe('observe', () => {
  it('maps values and reports the end once: completed, failed or abandoned', async () => {
    const ends: unknown[] = [];
    const out: number[] = [];
    for await (const v of observe(count(3), { value: (x) => x * 10, end: (o) => ends.push(o) })) out.push(v);
    expect(out).toEqual([0, 10, 20]);
    const boom = new Error('boom');
    await expect(
      (async () => {
        for await (const _ of observe(count(1, boom), { end: (o) => ends.push(o) })) void _;
      })(),
    ).rejects.toBe(boom);
    for await (const v of observe(count(5), { end: (o) => ends.push(o) })) if (v === 1) break;
    expect(ends).toEqual([undefined, boom, ABANDONED]);
  });
});

describe('abortable', () => {
  it('passes values and ends as the source does', async () => {
    const out: number[] = [];
    for await (const v of abortable(count(3), new AbortController().signal)) out.push(v);
    expect(out).toEqual([0, 1, 2]);
  });

  it('a pending read rejects at the abort even if the source never answers; later reads reject too', async () => {
    const abort = new AbortController();
    const it = abortable(stuck, abort.signal, (err, aborted) => (aborted ? new Error(`stopped: ${String(err)}`) : err))[Symbol.asyncIterator]();
    const pending = it.next();
    abort.abort('shutdown');
    await expect(pending).rejects.toThrow('stopped: shutdown');
    await expect(it.next()).rejects.toThrow('stopped: shutdown');
  });

  it('an error the source throws after the abort is the abort reason (the cancellation), before it the error', async () => {
    const abort = new AbortController();
    const early = new Error('early');
    await expect(abortable(count(0, early), abort.signal)[Symbol.asyncIterator]().next()).rejects.toBe(early);
    abort.abort('gone');
    await expect(abortable(count(0, early), abort.signal)[Symbol.asyncIterator]().next()).rejects.toBe('gone');
  });
});
