import { type Counter, createCounter, type Registry } from '@tokenmesh/metrics';

/**
 * `tokenmesh_gateway_cache_requests_total{outcome="hit"|"miss"}`: deterministic requests that went
 * through the response cache. A follower that shared another request's generation counts as a
 * hit (it caused no generation). No ratio gauge: a ratio since start-up hides recent changes and
 * cannot be summed over replicas; the hit ratio is
 * `sum(rate(tokenmesh_gateway_cache_requests_total{outcome="hit"}[5m])) / sum(rate(tokenmesh_gateway_cache_requests_total[5m]))`.
 */
export class CacheMetrics {
  private readonly requests: Counter<'outcome'>;

  /** `idempotency`: `tokenmesh_gateway_idempotent_requests_total`, requests with an Idempotency-Key (hit: answered from an earlier try's generation). */
  constructor(registry: Registry, kind: 'cache' | 'idempotency' = 'cache') {
    this.requests = createCounter(registry, {
      name: kind === 'cache' ? 'gateway_cache_requests_total' : 'gateway_idempotent_requests_total',
      help:
        kind === 'cache'
          ? 'Deterministic requests through the response cache, by outcome (hit includes requests that shared a concurrent generation)'
          : 'Requests with an Idempotency-Key, by outcome (hit: answered by the generation of an earlier or concurrent try with the same key)',
      labelNames: ['outcome'] as const,
    });
    // Both series exist from the start, so rate() and the ratio work before the first hit.
    this.requests.inc({ outcome: 'hit' }, 0);
    this.requests.inc({ outcome: 'miss' }, 0);
  }

  outcome(outcome: 'hit' | 'miss'): void {
    this.requests.inc({ outcome });
  }
}
