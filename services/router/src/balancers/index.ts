import { type Balancer, type BalancerOptions, STRATEGIES, type StrategyName } from './balancer';
import { ConsistentHashBalancer } from './consistent-hash';
import { LeastConnectionsBalancer } from './least-connections';
import { PowerOfTwoBalancer } from './power-of-two';
import { RoundRobinBalancer } from './round-robin';
import { SmoothWeightedBalancer } from './smooth-weighted';

export { type Balancer, type BalancerOptions, STRATEGIES, type StrategyName, type WorkerLoad } from './balancer';
// The ring's hash; traffic/ buckets keys with it too (both need keys that differ only at the end to spread).
export { hashString } from './hash';

/** Whether `s` names a strategy; for validating config before calling {@link createBalancer}. */
export function isStrategy(s: string): s is StrategyName {
  return (STRATEGIES as readonly string[]).includes(s);
}

/** A fresh balancer with its own state; create one per model so turns and rings are not shared across pools. */
export function createBalancer(strategy: StrategyName, opts: BalancerOptions = {}): Balancer {
  switch (strategy) {
    case 'round-robin':
      return new RoundRobinBalancer();
    case 'weighted':
      return new SmoothWeightedBalancer();
    case 'least-connections':
      return new LeastConnectionsBalancer();
    case 'p2c':
      return new PowerOfTwoBalancer(opts.random);
    case 'consistent-hash':
      return new ConsistentHashBalancer(opts.loadFactor, opts.replicas, opts.random);
    default: {
      // Reached only from untyped callers; the never check keeps the switch exhaustive as strategies are added.
      const unknown: never = strategy;
      throw new RangeError(`unknown balancing strategy "${String(unknown)}"; expected one of ${STRATEGIES.join(', ')}`);
    }
  }
}
