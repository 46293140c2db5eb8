import type { Logger } from '@tokenmesh/logging';
import type { GenerateRequest } from '@tokenmesh/proto';

import type { Balancer } from '../balancers';
import type { WorkerPool } from '../pool';
import type { RouterMetrics } from '../router-metrics';

export interface ShadowOptions {
  readonly pool: WorkerPool;
  readonly balancer: Balancer;
  readonly metrics?: RouterMetrics;
  readonly logger?: Logger;
  /** Shadow calls open at once; beyond it mirrors are dropped (counted), never queued. */
  readonly maxInFlight?: number;
  /** A shadow call is abandoned after this long. */
  readonly timeoutMs?: number;
}

/**
 * Mirrors requests to a shadow model: fire and forget, output discarded, latency and tokens
 * recorded. It never touches the caller's stream, never waits on it and never fails it; a
 * caller that goes away does not cancel its shadow (the shadow measures the candidate, not the
 * caller). Bounded so that mirroring cannot overload the pool.
 */
export class ShadowRunner {
  private readonly inFlight = new Set<AbortController>();
  private readonly max: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ShadowOptions) {
    this.max = opts.maxInFlight ?? 32;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** Starts a shadow copy of `req` on `model`; returns at once. */
  mirror(req: GenerateRequest, model: string): void {
    const { pool, metrics } = this.opts;
    const candidates = pool.eligible(model);
    if (candidates.length === 0 || this.inFlight.size >= this.max) {
      metrics?.shadow.inc({ model, outcome: candidates.length === 0 ? 'no_worker' : 'dropped' });
      return;
    }
    const worker = this.opts.balancer.pick(candidates, req.routingKey);
    const abort = new AbortController();
    this.inFlight.add(abort);
    const started = performance.now();
    let tokens = 0;
    worker.acquire();
    void (async () => {
      try {
        const stream = worker.client.generate(
          { ...req, requestId: req.requestId ? `${req.requestId}.shadow` : '', model },
          { signal: abort.signal, timeoutMs: this.timeoutMs },
        );
        for await (const m of stream) tokens += m.tokenIds.length;
        metrics?.shadow.inc({ model, outcome: 'ok' });
        metrics?.shadowDuration.observe({ model }, (performance.now() - started) / 1000);
      } catch (err) {
        metrics?.shadow.inc({ model, outcome: abort.signal.aborted ? 'aborted' : 'error' });
        if (!abort.signal.aborted) this.opts.logger?.warn('shadow request failed', { model, worker: worker.id, err });
      } finally {
        metrics?.shadowTokens.inc({ model }, tokens);
        worker.release();
        this.inFlight.delete(abort);
      }
    })();
  }

  /** Shadow calls open now. */
  get active(): number {
    return this.inFlight.size;
  }

  /** Abandons every shadow call (router shutdown). */
  close(): void {
    for (const a of this.inFlight) a.abort();
  }
}
