import type { Logger } from '@tokenmesh/logging';
import type { Store } from '@tokenmesh/store';

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

  constructor(
    private readonly store?: Store,
    private readonly opts: IssuedRequestsOptions = {},
  ) {
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.ttlMs = opts.ttlMs ?? 24 * 3600 * 1000;
    this.now = opts.now ?? Date.now;
  }

  /** Records a finished completion; never throws (a store failure is logged). */
  remember(r: Pick<CompletionRecord, 'requestId' | 'model' | 'variant'>): void {
    const issued = { model: r.model, variant: r.variant };
    this.local.delete(r.requestId);
    this.local.set(r.requestId, { issued, expiresAt: this.now() + this.ttlMs });
    if (this.local.size > this.maxEntries) this.local.delete(this.local.keys().next().value!);
    this.store?.set(KEY(r.requestId), JSON.stringify(issued), { ttlMs: this.ttlMs }).catch((err: unknown) => {
      this.opts.logger?.warn('issued request not recorded in the store', { err, request_id: r.requestId });
    });
  }

  /** The completion's model and variant; undefined for an id this mesh did not issue (or forgot). */
  async lookup(requestId: string): Promise<IssuedRequest | undefined> {
    const hit = this.local.get(requestId);
    if (hit && hit.expiresAt > this.now()) return hit.issued;
    if (hit) this.local.delete(requestId);
    if (!this.store) return undefined;
    const v = await this.store.get(KEY(requestId));
    return v === null ? undefined : (JSON.parse(v) as IssuedRequest);
  }
}
