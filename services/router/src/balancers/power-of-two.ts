import { type Balancer, loadOf, type WorkerLoad } from './balancer';

/**
 * Power of two choices: compare two distinct random candidates and take the less loaded.
 * Nearly as even as least-connections, but without herding every router onto the same
 * "least loaded" worker when their load views are equally stale.
 */
export class PowerOfTwoBalancer implements Balancer {
  readonly strategy = 'p2c' as const;

  /** @param random uniform in [0, 1) */
  constructor(private readonly random: () => number = Math.random) {}

  /** The less loaded of two random candidates; a single candidate is returned as is. */
  pick<W extends WorkerLoad>(candidates: readonly W[]): W {
    const n = candidates.length;
    if (n === 0) throw new RangeError('balancer needs at least one candidate');
    if (n === 1) return candidates[0]!;
    const i = this.index(n);
    // Drawing from n - 1 and stepping over i gives a second candidate distinct from the first, uniformly.
    let j = this.index(n - 1);
    if (j >= i) j++;
    const a = candidates[i]!;
    const b = candidates[j]!;
    const la = loadOf(a);
    const lb = loadOf(b);
    if (la !== lb) return la < lb ? a : b;
    return this.random() < 0.5 ? a : b;
  }

  private index(n: number): number {
    // min() guards a source that returns exactly 1.
    return Math.min(n - 1, Math.floor(this.random() * n));
  }
}
