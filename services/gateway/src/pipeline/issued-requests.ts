import type { Logger } from '@tokenmesh/logging';
import type { Registry } from '@tokenmesh/metrics';
import { type CircuitBreakerOptions, type Store, StoreGuard } from '@tokenmesh/store';

import type { CompletionRecord } from './completion-events';

/** What feedback about a request may name: the model and variant that served it. */
export interface IssuedRequest {
  readonly model: string;
  readonly variant: string;
}

export interface IssuedRequestsOptions {
  /** Completions remembered in this process; default 100 000 (the oldest go first). */
  readonly maxEntries?: number;
  /** How long a request id accepts feedback; default 24 h. */
  readonly ttlMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
  /** Per store call; default 250 ms (a record is written after the answer, read on /feedback only). */
  readonly timeoutMs?: number;
  /** The gateway's store circuit breaker (GATEWAY_STORE_BREAKER_*); none = every call is tried. */
  readonly breaker?: CircuitBreakerOptions;
  /** Registers the guard's `dependency="issued_requests"` series. */
  readonly metrics?: Registry;
}

const KEY = (requestId: string) => `issued:${requestId}`;

/**
 * The completions this gateway issued, so /feedback accepts only real request ids and takes
 * model and variant from here, never from the caller: report variants stay real names.
 *
 * Kept in a bounded map (insertion order = age) and, when a store is given, in the store with a
 * TTL, so with several replicas sharing Redis any replica accepts feedback for any replica's
 * request. Without a shared store (one process, or replicas on their own memory stores) a
 * replica only knows its own ids.
 */
export class IssuedRequests {
  private readonly local = new Map<string, { issued: IssuedRequest; expiresAt: number }>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  // The same guard as the limiter's and the cache's: a Redis outage costs one log line and, with
  // the breaker open, no store call per completion.
  private readonly guard: StoreGuard;

  constructor(
    private readonly store?: Store,
    opts: IssuedRequestsOptions = {},
  ) {
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.ttlMs = opts.ttlMs ?? 24 * 3600 * 1000;
    this.now = opts.now ?? Date.now;
    this.guard = new StoreGuard({
      name: 'issued-requests store',
      timeoutMs: opts.timeoutMs ?? 250,
      failure: 'closed',
      ...(opts.breaker ? { breaker: opts.breaker } : {}),
      ...(opts.metrics ? { metrics: { registry: opts.metrics, dependency: 'issued_requests' } } : {}),
      onOutage: (reason, err) =>
        opts.logger?.warn('issued-requests store failing; feedback is checked against this process only', {
          reason,
          error: err.message,
        }),
      onRecovery: () => opts.logger?.info('issued-requests store answering again'),
    });
  }

  /** Records a finished completion; never throws (a store outage is logged once, by the guard). */
  remember(r: Pick<CompletionRecord, 'requestId' | 'model' | 'variant'>): void {
    const issued = { model: r.model, variant: r.variant };
    this.local.delete(r.requestId);
    this.local.set(r.requestId, { issued, expiresAt: this.now() + this.ttlMs });
    if (this.local.size > this.maxEntries) this.local.delete(this.local.keys().next().value!);
    const store = this.store;
    if (store) void this.guard.attempt(() => store.set(KEY(r.requestId), JSON.stringify(issued), { ttlMs: this.ttlMs }));
  }

  /** The completion's model and variant; undefined for an id this mesh did not issue (or forgot). */
  async lookup(requestId: string): Promise<IssuedRequest | undefined> {
    const hit = this.local.get(requestId);
    if (hit && hit.expiresAt > this.now()) return hit.issued;
    if (hit) this.local.delete(requestId);
    const store = this.store;
    if (!store) return undefined;
    // Fails closed (StoreUnavailableError): an id this process does not know cannot be checked.
    const v = await this.guard.call(() => store.get(KEY(requestId)), null);
    return v === null ? undefined : (JSON.parse(v) as IssuedRequest);
  }
}
