import { ChoiceGate } from '../../src/rpc/choice-gate';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = new AbortController().signal;

describe('ChoiceGate: the calls of a choice group start together', () => {
  it('holds the first calls until the last arrives, then lets all on in one turn', async () => {
    const gate = new ChoiceGate(1000);
    const on: number[] = [];
    const calls = [0, 1, 2].map(async (i) => {
      await sleep(i * 5);
      await gate.arrive('g', 3, never);
      on.push(i);
    });
    await sleep(7);
    expect(on).toEqual([]);
    await Promise.all(calls);
    expect(on.sort()).toEqual([0, 1, 2]);
    expect(gate.size).toBe(0);
  });

  it('goes on without the missing calls after its wait, and does not hold the late ones', async () => {
    const gate = new ChoiceGate(20);
    const t0 = performance.now();
    await Promise.all([gate.arrive('g', 3, never), gate.arrive('g', 3, never)]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
    const t1 = performance.now();
    await gate.arrive('g', 3, never);
    expect(performance.now() - t1).toBeLessThan(15);
  });

  it('lets a call without a group, of one call, or aborted go on at once', async () => {
    const gate = new ChoiceGate(10_000);
    await gate.arrive('', 4, never);
    await gate.arrive('solo', 1, never);
    const leaving = new AbortController();
    const waiting = gate.arrive('g', 4, leaving.signal);
    leaving.abort();
    await waiting;
    expect(gate.size).toBe(1);
  });
});
