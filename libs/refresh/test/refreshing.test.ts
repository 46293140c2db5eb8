import { Refreshing } from '../src';

/** A source whose loads are answered (or failed) by the test, one at a time. */
class Source {
  loads = 0;
  private pending: { resolve: (v: number) => void; reject: (e: Error) => void }[] = [];
  readonly load = () => {
    this.loads++;
    return new Promise<number>((resolve, reject) => this.pending.push({ resolve, reject }));
  };
  answer(value: number): void {
    this.pending.shift()!.resolve(value);
  }
  fail(message = 'down'): void {
    this.pending.shift()!.reject(new Error(message));
  }
}

const settle = () => new Promise((r) => setImmediate(r));

describe('Refreshing', () => {
  let now: number;
  beforeEach(() => (now = 0));

  it('shares one load among concurrent reads, and loads again once the value is maxAgeMs old', async () => {
    const src = new Source();
    const r = new Refreshing({ load: src.load, maxAgeMs: 1000, whenStale: 'wait', onFailure: 'forget', now: () => now });
    const reads = [r.get(), r.get(), r.get()];
    src.answer(1);
    expect(await Promise.all(reads)).toEqual([1, 1, 1]);
    now = 999;
    expect(await r.get()).toBe(1);
    expect(src.loads).toBe(1);
    now = 1000;
    const read = r.get();
    expect(src.loads).toBe(2);
    src.answer(2);
    expect(await read).toBe(2);
    expect(r.current).toBe(2);
  });

  it('whenStale serve: answers from the old value at once while one load runs behind it', async () => {
    const src = new Source();
    const r = new Refreshing({ load: src.load, maxAgeMs: 100, whenStale: 'serve', onFailure: 'keep', now: () => now });
    const first = r.get();
    src.answer(1);
    expect(await first).toBe(1);
    now = 100;
    expect(await Promise.all([r.get(), r.get()])).toEqual([1, 1]);
    expect(src.loads).toBe(2);
    src.answer(2);
    await settle();
    expect(await r.get()).toBe(2);
  });

  it('onFailure keep: the last value stays, the error is told, and the source is asked again a period later', async () => {
    const src = new Source();
    const errors: string[] = [];
    const r = new Refreshing({
      load: src.load,
      maxAgeMs: 100,
      whenStale: 'serve',
      onFailure: 'keep',
      onKeptError: (e) => errors.push((e as Error).message),
      now: () => now,
    });
    const first = r.get();
    src.answer(1);
    await first;
    now = 150;
    expect(await r.get()).toBe(1);
    src.fail('redis down');
    await settle();
    expect(errors).toEqual(['redis down']);
    now = 200;
    expect(await r.get()).toBe(1);
    expect(src.loads).toBe(2);
    now = 250;
    expect(await r.get()).toBe(1);
    expect(src.loads).toBe(3);
  });

  it('fails its readers when there is no value to answer with, and the next read tries again', async () => {
    const src = new Source();
    const r = new Refreshing({ load: src.load, maxAgeMs: 100, whenStale: 'serve', onFailure: 'keep', now: () => now });
    const first = r.get();
    src.fail('not yet');
    await expect(first).rejects.toThrow('not yet');
    const second = r.get();
    src.answer(7);
    expect(await second).toBe(7);
  });

  it('onFailure forget: readers get the error, and the next read loads again', async () => {
    const src = new Source();
    const r = new Refreshing({ load: src.load, maxAgeMs: 100, whenStale: 'wait', onFailure: 'forget', now: () => now });
    const first = r.get();
    src.answer(1);
    await first;
    now = 100;
    const failed = r.get();
    src.fail();
    await expect(failed).rejects.toThrow('down');
    const again = r.get();
    expect(src.loads).toBe(3);
    src.answer(3);
    expect(await again).toBe(3);
  });

  it('keeps the newest value: refresh joins the load in flight, and an older set() is ignored', async () => {
    const src = new Source();
    const r = new Refreshing({ load: src.load, maxAgeMs: 100, whenStale: 'wait', onFailure: 'forget', now: () => now });
    now = 10;
    const a = r.refresh();
    const b = r.refresh();
    expect(src.loads).toBe(1);
    r.set(5, 20);
    src.answer(1);
    expect(await Promise.all([a, b])).toEqual([1, 1]);
    expect(r.current).toBe(5);
    r.set(6, 30);
    expect(await r.get()).toBe(6);
  });
});
