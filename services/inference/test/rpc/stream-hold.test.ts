import { AsyncQueue } from '../../src/engine/async-queue';
import { HOLD_FROM, HOLD_FROM_STREAMS, HOLD_FULL, HOLD_FULL_STREAMS, streamHold } from '../../src/rpc/stream-hold';

describe('stream hold', () => {
  it('is 0 under light load and grows to its maximum as the serving thread fills up or streams multiply', () => {
    const load = { utilization: 0 };
    let streams = 1;
    const hold = streamHold(40, load, () => streams);
    for (const [u, ms] of [
      [0, 0],
      [HOLD_FROM, 0],
      [(HOLD_FROM + HOLD_FULL) / 2, 20],
      [HOLD_FULL, 40],
      [1, 40],
    ] as const) {
      load.utilization = u;
      expect(hold()).toBeCloseTo(ms, 6);
    }
    load.utilization = 0;
    for (const [n, ms] of [
      [1, 0],
      [HOLD_FROM_STREAMS, 0],
      [(HOLD_FROM_STREAMS + HOLD_FULL_STREAMS) / 2, 20],
      [HOLD_FULL_STREAMS, 40],
      [500, 40],
    ] as const) {
      streams = n;
      expect(hold()).toBeCloseTo(ms, 6);
    }
    expect(streamHold(0, { utilization: 1 }, () => 100)()).toBe(0);
  });

  it('a queue read with a hold hands out the first item at once, then what gathered during the hold; the end cuts it short', async () => {
    const q = new AsyncQueue<number>();
    const batches: number[][] = [];
    const reading = (async () => {
      // A hold far longer than the test: only the end can cut it short within the bound below.
      for await (const b of q.batches(() => 5_000)) batches.push(b);
    })();
    q.push(1);
    await new Promise((r) => setTimeout(r, 10));
    expect(batches).toEqual([[1]]);
    q.push(2);
    q.push(3);
    await new Promise((r) => setTimeout(r, 10));
    // Still holding: 2 and 3 wait for the hold to pass.
    expect(batches).toEqual([[1]]);
    const t0 = performance.now();
    q.push(4);
    q.end();
    await reading;
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('a queue read with a minimum is woken only once that many items are in, or at the end with fewer', async () => {
    const q = new AsyncQueue<number>();
    const batches: number[][] = [];
    const reading = (async () => {
      for await (const b of q.batches(undefined, 3)) batches.push(b);
    })();
    q.push(1);
    q.push(2);
    await new Promise((r) => setTimeout(r, 5));
    expect(batches).toEqual([]);
    q.push(3);
    q.push(4);
    await new Promise((r) => setTimeout(r, 5));
    expect(batches).toEqual([[1, 2, 3, 4]]);
    q.push(5);
    q.end();
    await reading;
    expect(batches).toEqual([[1, 2, 3, 4], [5]]);
  });
});
