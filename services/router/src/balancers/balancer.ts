/** What a balancer sees of a worker. */
export interface WorkerLoad {
  /** Unique worker id. */
  readonly id: string;
  /** Relative capacity, >= 1. */
  readonly weight: number;
  /** The router's own calls in flight to this worker. */
  readonly inFlight: number;
  /** The worker's reported waiting queue (last heartbeat). */
  readonly waiting: number;
}

/** Every strategy the router can be configured with, in the spelling config accepts. */
export const STRATEGIES = ['round-robin', 'weighted', 'least-connections', 'p2c', 'consistent-hash'] as const;

/** One of {@link STRATEGIES}. */
export type StrategyName = (typeof STRATEGIES)[number];

/** Picks one worker. State (turns, smooth weights, hash ring) lives in the instance: one instance per model. */
export interface Balancer {
  readonly strategy: StrategyName;
  /** `candidates` is non-empty and every entry is eligible; `key` is the request's routing key ('' when none). */
  pick<W extends WorkerLoad>(candidates: readonly W[], key: string): W;
}

/** Tuning shared by the strategies; each reads only what it needs. */
export interface BalancerOptions {
  /** Uniform in [0, 1); defaults to Math.random. Tests inject a seeded one. */
  random?: () => number;
  /**
   * consistent-hash bounded-load factor c: capacity = ceil(c * (total in-flight + 1) / n); default 1.25.
   * With unequal weights each worker's capacity is scaled by its share of the total weight
   * (ceil(c * (total + 1) * weight / total weight)), which is the same number when weights are equal.
   */
  loadFactor?: number;
  /** Virtual nodes per unit of weight on the ring, default 160. */
  replicas?: number;
}

/** A worker's queue as the balancers compare it: what the router has sent plus what the worker says is waiting. */
export function loadOf(w: WorkerLoad): number {
  return w.inFlight + w.waiting;
}
