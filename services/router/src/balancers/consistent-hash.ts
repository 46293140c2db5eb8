import type { Balancer, WorkerLoad } from './balancer';
import { hashString } from './hash';
import { PowerOfTwoBalancer } from './power-of-two';

/** Virtual nodes sorted by hash; `ids[i]` owns the arc ending at `hashes[i]`. */
interface Ring {
  readonly hashes: Uint32Array;
  readonly ids: readonly string[];
}

function buildRing(candidates: readonly WorkerLoad[], replicas: number): Ring {
  const points: { hash: number; id: string }[] = [];
  for (const c of candidates) {
    const count = Math.max(1, Math.round(c.weight * replicas));
    // A point depends only on (id, i), so a worker joining or leaving adds or removes its own points and moves nobody else's keys.
    for (let i = 0; i < count; i++) points.push({ hash: hashString(`${c.id}#${i}`), id: c.id });
  }
  points.sort((a, b) => a.hash - b.hash || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { hashes: Uint32Array.from(points, (p) => p.hash), ids: points.map((p) => p.id) };
}

/** Index of the first point at or clockwise after `h`. */
function firstAtOrAfter(hashes: Uint32Array, h: number): number {
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hashes[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === hashes.length ? 0 : lo;
}

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018): a key goes to the
 * first worker clockwise from hash(key) that is under capacity, so a key keeps hitting the same
 * worker (and its warm prefix cache) until that worker has more than its share of the load, and
 * a hot key spills to the next worker on the ring rather than to a random one.
 * Capacity counts only the router's own in-flight calls: they are exact and current, where the
 * reported waiting queue is as old as the last heartbeat.
 */
export class ConsistentHashBalancer implements Balancer {
  readonly strategy = 'consistent-hash' as const;
  private readonly fallback: PowerOfTwoBalancer;
  private ring: Ring = { hashes: new Uint32Array(0), ids: [] };
  private signature = '';

  /**
   * @param loadFactor c >= 1; each worker's capacity is ceil(c * (total in-flight + 1) * weight / total weight)
   * @param replicas virtual nodes per unit of weight
   * @param random feeds the power-of-two fallback used for requests without a key
   */
  constructor(
    private readonly loadFactor = 1.25,
    private readonly replicas = 160,
    random: () => number = Math.random,
  ) {
    // Below 1 the capacities can sum to less than the load, and then no worker would qualify.
    if (!(loadFactor >= 1) || !Number.isFinite(loadFactor)) throw new RangeError(`loadFactor must be a finite number >= 1, got ${loadFactor}`);
    if (!Number.isInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be an integer >= 1, got ${replicas}`);
    this.fallback = new PowerOfTwoBalancer(random);
  }

  /** The key's worker on the ring, or the next one clockwise under capacity; no key → power of two choices. */
  pick<W extends WorkerLoad>(candidates: readonly W[], key: string): W {
    if (candidates.length === 0) throw new RangeError('balancer needs at least one candidate');
    if (key === '' || candidates.length === 1) return this.fallback.pick(candidates);
    const { hashes, ids } = this.ringFor(candidates);
    const byId = new Map<string, W>();
    let totalInFlight = 0;
    let totalWeight = 0;
    for (const c of candidates) {
      byId.set(c.id, c);
      totalInFlight += c.inFlight;
      totalWeight += c.weight;
    }
    // (total + 1) counts the call being placed, as the paper does.
    const budget = this.loadFactor * (totalInFlight + 1);
    const start = firstAtOrAfter(hashes, hashString(key));
    const seen = new Set<string>();
    let home: W | undefined;
    for (let step = 0; step < ids.length && seen.size < byId.size; step++) {
      const id = ids[(start + step) % ids.length]!;
      if (seen.has(id)) continue;
      seen.add(id);
      const w = byId.get(id)!;
      home ??= w;
      if (w.inFlight < Math.ceil((budget * w.weight) / totalWeight)) return w;
    }
    // Unreachable while loadFactor >= 1 (capacities sum to at least total + 1); kept so the type is honest.
    return home!;
  }

  private ringFor(candidates: readonly WorkerLoad[]): Ring {
    const signature = candidates
      .map((c) => `${c.id}\u0000${c.weight}`)
      .sort()
      .join('\u0001');
    if (signature !== this.signature) {
      this.ring = buildRing(candidates, this.replicas);
      this.signature = signature;
    }
    return this.ring;
  }
}
