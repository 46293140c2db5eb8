import { type Balancer, createBalancer, isStrategy, STRATEGIES, type WorkerLoad } from '../src/balancers';

/** mulberry32: a tiny seeded PRNG so that every random strategy replays the same picks. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Worker extends WorkerLoad {
  inFlight: number;
  waiting: number;
}

function worker(id: string, weight = 1, inFlight = 0, waiting = 0): Worker {
  return { id, weight, inFlight, waiting };
}

function pool(...ids: string[]): Worker[] {
  return ids.map((id) => worker(id));
}

function counts(b: Balancer, candidates: readonly WorkerLoad[], picks: number, key = ''): Record<string, number> {
  const seen: Record<string, number> = Object.fromEntries(candidates.map((c) => [c.id, 0]));
  for (let i = 0; i < picks; i++) seen[b.pick(candidates, key).id]!++;
  return seen;
}

function sequence(b: Balancer, candidates: readonly WorkerLoad[], picks: number): string[] {
  return Array.from({ length: picks }, () => b.pick(candidates, '').id);
}

function keys(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `session-${i}`);
}

/** Where each key lands, with the pool left as it is (nothing in flight, so no spill). */
function placement(b: Balancer, candidates: readonly WorkerLoad[], ks: readonly string[]): Map<string, string> {
  return new Map(ks.map((k) => [k, b.pick(candidates, k).id]));
}

describe('createBalancer / isStrategy', () => {
  it('knows every strategy and rejects anything else', () => {
    for (const s of STRATEGIES) {
      expect(isStrategy(s)).toBe(true);
      expect(createBalancer(s).strategy).toBe(s);
    }
    expect(isStrategy('random')).toBe(false);
    expect(() => createBalancer('random' as never)).toThrow('unknown balancing strategy "random"');
  });

  it('rejects options under which bounded load cannot place a call', () => {
    expect(() => createBalancer('consistent-hash', { loadFactor: 0.9 })).toThrow('loadFactor must be a finite number >= 1, got 0.9');
    expect(() => createBalancer('consistent-hash', { replicas: 0 })).toThrow('replicas must be an integer >= 1, got 0');
  });

  it('returns the caller’s own worker object', () => {
    const workers = pool('a', 'b');
    for (const s of STRATEGIES) expect(workers).toContain(createBalancer(s, { random: seeded(1) }).pick(workers, 'k'));
  });
});

describe('round robin', () => {
  it('gives equal shares over 1,000 picks', () => {
    expect(counts(createBalancer('round-robin'), pool('a', 'b', 'c'), 1000)).toEqual({ a: 334, b: 333, c: 333 });
  });

  it('cycles in id order whatever order the candidates come in', () => {
    expect(sequence(createBalancer('round-robin'), pool('c', 'a', 'b'), 7)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('keeps everyone else’s turn when a worker leaves or joins', () => {
    const b = createBalancer('round-robin');
    expect(b.pick(pool('a', 'b', 'c'), '').id).toBe('a');
    expect(b.pick(pool('a', 'c'), '').id).toBe('c'); // b left: c is next, not skipped
    expect(b.pick(pool('a', 'b', 'c', 'd'), '').id).toBe('d'); // d joined after c
    expect(b.pick(pool('a', 'b', 'c', 'd'), '').id).toBe('a');
    expect(b.pick(pool('a', 'b', 'c', 'd'), '').id).toBe('b');
  });
});

describe('smooth weighted', () => {
  it('splits 1,000 picks 5:3:2 within 5% of the weights', () => {
    const seen = counts(createBalancer('weighted'), [worker('a', 5), worker('b', 3), worker('c', 2)], 1000);
    expect(Math.abs(seen.a! / 1000 - 0.5)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(seen.b! / 1000 - 0.3)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(seen.c! / 1000 - 0.2)).toBeLessThanOrEqual(0.05);
  });

  it('gives every worker exactly its weight in each cycle, interleaved rather than in bursts', () => {
    const seq = sequence(createBalancer('weighted'), [worker('a', 5), worker('b', 3), worker('c', 2)], 1000);
    for (let i = 0; i < 1000; i += 10) {
      const cycle = seq.slice(i, i + 10);
      expect([cycle.filter((x) => x === 'a').length, cycle.filter((x) => x === 'b').length, cycle.filter((x) => x === 'c').length]).toEqual([5, 3, 2]);
    }
    // Plain weighted round robin would send a five in a row; the smooth one never sends it more than two.
    expect(seq.join('')).not.toMatch(/aaa|bb|cc/);
  });

  it('produces nginx’s sequence for weights 5:1:1', () => {
    expect(sequence(createBalancer('weighted'), [worker('a', 5), worker('b', 1), worker('c', 1)], 14).join(' ')).toBe('a a b a c a a a a b a c a a');
  });

  it('follows the new weights exactly, cycle by cycle, when a worker leaves and when it returns', () => {
    const b = createBalancer('weighted');
    const full = [worker('a', 5), worker('b', 3), worker('c', 2)];
    sequence(b, full, 7);
    expect(counts(b, [worker('a', 5), worker('b', 3)], 800)).toEqual({ a: 500, b: 300 });
    const back = sequence(b, full, 1000);
    expect(['a', 'b', 'c'].map((id) => back.filter((x) => x === id).length)).toEqual([500, 300, 200]);
    expect(back.join('')).not.toMatch(/aaa|bb|cc/);
  });
});

describe('least connections', () => {
  it('always picks a worker with the smallest in-flight + waiting, over 1,000 changing loads', () => {
    const random = seeded(7);
    const b = createBalancer('least-connections');
    const workers = pool('a', 'b', 'c', 'd');
    for (let i = 0; i < 1000; i++) {
      for (const w of workers) {
        w.inFlight = Math.floor(random() * 4);
        w.waiting = Math.floor(random() * 4);
      }
      const min = Math.min(...workers.map((w) => w.inFlight + w.waiting));
      const picked = b.pick(workers, '');
      expect(picked.inFlight + picked.waiting).toBe(min);
    }
  });

  it('shares evenly among equally loaded workers, and only among them', () => {
    expect(counts(createBalancer('least-connections'), pool('a', 'b', 'c'), 1000)).toEqual({ a: 334, b: 333, c: 333 });
    expect(counts(createBalancer('least-connections'), [worker('a', 1, 1), worker('b', 1, 0, 1), worker('c', 1, 0, 2)], 1000)).toEqual({
      a: 500,
      b: 500,
      c: 0,
    });
  });

  it('spreads calls when each pick adds to the chosen worker’s load', () => {
    const b = createBalancer('least-connections');
    const workers = [worker('a', 1, 0, 3), worker('b'), worker('c')];
    for (let i = 0; i < 999; i++) b.pick(workers, '').inFlight++;
    expect(workers.map((w) => w.inFlight + w.waiting)).toEqual([334, 334, 334]);
  });
});

describe('power of two choices', () => {
  it('never sends a call to the most loaded worker when loads are distinct', () => {
    const workers = [worker('a', 1, 0), worker('b', 1, 1), worker('c', 1, 2, 1), worker('d', 1, 2, 2)];
    const seen = counts(createBalancer('p2c', { random: seeded(42) }), workers, 1000);
    expect(seen.d).toBe(0);
    // The least loaded wins every pair it is in (half of all pairs), the next one a third.
    expect(Math.abs(seen.a! / 1000 - 1 / 2)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(seen.b! / 1000 - 1 / 3)).toBeLessThanOrEqual(0.05);
  });

  it('is roughly uniform over equally loaded workers', () => {
    const seen = counts(createBalancer('p2c', { random: seeded(3) }), pool('a', 'b', 'c'), 1000);
    for (const n of Object.values(seen)) expect(Math.abs(n / 1000 - 1 / 3)).toBeLessThanOrEqual(0.05);
  });

  it('returns a lone candidate without drawing', () => {
    const random = jest.fn(() => 0.5);
    const only = worker('a', 1, 9, 9);
    expect(createBalancer('p2c', { random }).pick([only], '')).toBe(only);
    expect(random).not.toHaveBeenCalled();
  });
});

describe('consistent hash', () => {
  const four = () => pool('w1', 'w2', 'w3', 'w4');

  it('sends the same key to the same worker, across 1,000 keys asked twice', () => {
    const b = createBalancer('consistent-hash');
    const ks = keys(1000);
    const first = placement(b, four(), ks);
    // Same set in another order and as new objects: still the same ring.
    expect(placement(b, four().reverse(), ks)).toEqual(first);
    const shares = counts(b, four(), 0);
    for (const w of first.values()) shares[w]!++;
    for (const n of Object.values(shares)) expect(Math.abs(n / 1000 - 1 / 4)).toBeLessThanOrEqual(0.05);
  });

  it('moves only the removed worker’s keys when one of four leaves', () => {
    const b = createBalancer('consistent-hash');
    const ks = keys(1000);
    const before = placement(b, four(), ks);
    const after = placement(
      b,
      four().filter((w) => w.id !== 'w3'),
      ks,
    );
    let moved = 0;
    for (const k of ks) {
      if (before.get(k) === 'w3') {
        moved++;
        expect(after.get(k)).not.toBe('w3');
      } else {
        expect(after.get(k)).toBe(before.get(k));
      }
    }
    expect(moved).toBeGreaterThan(150);
  });

  it('shifts share roughly in proportion to weight, moving keys only onto the heavier worker', () => {
    const b = createBalancer('consistent-hash');
    const ks = keys(1000);
    const before = placement(b, four(), ks);
    const heavier = four().map((w) => (w.id === 'w1' ? worker('w1', 2) : w));
    const after = placement(b, heavier, ks);
    const w1 = [...after.values()].filter((w) => w === 'w1').length;
    expect(Math.abs(w1 / 1000 - 2 / 5)).toBeLessThanOrEqual(0.05);
    for (const k of ks) if (after.get(k) !== before.get(k)) expect(after.get(k)).toBe('w1');
  });

  it('sends a key to the next worker on the ring while its own is at capacity', () => {
    const b = createBalancer('consistent-hash');
    const ks = keys(50);
    const idle = placement(b, four(), ks);
    for (const k of ks) {
      const home = idle.get(k)!;
      // Two in flight out of a total of two: capacity is ceil(1.25 * 3 / 4) = 1, so home is full.
      const busy = four().map((w) => (w.id === home ? worker(home, 1, 2) : w));
      const nextOnRing = b.pick(
        four().filter((w) => w.id !== home),
        k,
      ).id;
      expect(b.pick(busy, k).id).toBe(nextOnRing);
      // Below capacity it stays home.
      expect(
        b.pick(
          four().map((w) => (w.id === home ? worker(home, 1, 1, 50) : worker(w.id, 1, 1))),
          k,
        ).id,
      ).toBe(home);
    }
  });

  it('keeps every worker under ceil(1.25 * (total + 1) / n) when 80% of 1,000 calls share five keys', () => {
    /** 1,000 sequential calls, each adding one in flight to the worker picked; returns the final in-flight counts. */
    const simulate = (loadFactor: number, check: (picked: Worker, capacity: number, workers: Worker[]) => void): number[] => {
      const random = seeded(11);
      const b = createBalancer('consistent-hash', { random, loadFactor });
      const workers = four();
      const hot = ['chat-a', 'chat-b', 'chat-c', 'chat-d', 'chat-e'];
      for (let total = 0; total < 1000; total++) {
        const key = random() < 0.8 ? hot[Math.floor(random() * hot.length)]! : `cold-${Math.floor(random() * 10_000)}`;
        const picked = b.pick(workers, key);
        picked.inFlight++;
        check(picked, Math.ceil((1.25 * (total + 1)) / workers.length), workers);
      }
      return workers.map((w) => w.inFlight);
    };
    const bounded = simulate(1.25, (_, capacity, workers) => {
      for (const w of workers) expect(w.inFlight).toBeLessThanOrEqual(capacity);
    });
    expect(bounded.reduce((s, n) => s + n, 0)).toBe(1000);
    // The skew is real: with the bound out of the way the worker holding two hot keys takes far more than its share.
    const unbounded = simulate(1e9, () => undefined);
    expect(Math.max(...unbounded)).toBeGreaterThan(Math.ceil((1.25 * 1000) / 4) + 50);
  });

  it('moves a call off its key’s own worker only when that worker is full, and keeps most calls home', () => {
    const random = seeded(11);
    const b = createBalancer('consistent-hash', { random });
    const workers = four();
    let home = 0;
    for (let total = 0; total < 1000; total++) {
      const key = random() < 0.8 ? `chat-${Math.floor(random() * 5)}` : `cold-${Math.floor(random() * 10_000)}`;
      const own = workers.find((w) => w.id === b.pick(four(), key).id)!;
      const capacity = Math.ceil((1.25 * (total + 1)) / workers.length);
      const picked = b.pick(workers, key);
      if (picked === own) home++;
      else expect(own.inFlight).toBeGreaterThanOrEqual(capacity);
      picked.inFlight++;
    }
    expect(home).toBeGreaterThan(500);
  });

  it('balances keyless calls by power of two choices', () => {
    const workers = [worker('a', 1, 0), worker('b', 1, 1), worker('c', 1, 2), worker('d', 1, 3)];
    const hash = createBalancer('consistent-hash', { random: seeded(5) });
    const p2c = createBalancer('p2c', { random: seeded(5) });
    const seq = Array.from({ length: 1000 }, () => hash.pick(workers, '').id);
    expect(seq).toEqual(Array.from({ length: 1000 }, () => p2c.pick(workers, '').id));
    expect(seq).not.toContain('d');
  });
});
