import type { Store } from '@tokenmesh/store';

import { bucketField, quantile } from './latency-histogram';

/** Feedback kept for a while so it can be audited or joined with completions later. */
export const FEEDBACK_TTL_MS = 30 * 24 * 3600 * 1000;

const INDEX = 'feedback:variants';
const SEP = '\u001f';

export interface StoredFeedback {
  readonly feedbackId: string;
  readonly requestId: string;
  readonly model: string;
  readonly variant: string;
  readonly rating: number;
  readonly comment: string;
  readonly labels: Record<string, string>;
  readonly receivedAtMs: number;
}

/** A finished completion, as the gateway reports it on the events stream. */
export interface CompletionFacts {
  readonly requestId: string;
  readonly model: string;
  readonly variant: string;
  readonly completionTokens: number;
  readonly totalMs: number;
}

/** How long a request id is remembered, so a redelivered completion event is counted once. */
export const COMPLETION_DEDUP_MS = 24 * 3600 * 1000;

export interface VariantTotals {
  readonly model: string;
  readonly variant: string;
  readonly completions: number;
  readonly completionTokens: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly feedbackCount: number;
  readonly meanRating: number;
}

/**
 * Feedback records and per-(model, variant) running totals in the store: feedback count and
 * rating sum, completions, completion tokens and a latency histogram. Every update is a single
 * atomic store operation, so several feedback replicas can share one Redis.
 */
export class FeedbackAggregates {
  constructor(private readonly store: Store) {}

  async record(f: StoredFeedback): Promise<void> {
    await this.store.set(`feedback:${f.feedbackId}`, JSON.stringify(f), { ttlMs: FEEDBACK_TTL_MS });
    const key = `report:${f.model}${SEP}${f.variant}`;
    // Counts last: a report read between these writes never counts an entry whose sums are missing.
    await this.store.hIncrBy(INDEX, `${f.model}${SEP}${f.variant}`, 1);
    await this.store.hIncrByFloat(key, 'rating_sum', f.rating);
    await this.store.hIncrBy(key, 'feedback_count', 1);
  }

  /** Counts a completion once per request id; false when it was already counted. */
  async recordCompletion(c: CompletionFacts): Promise<boolean> {
    const seen = `completion-seen:${c.requestId}`;
    const id = `${c.model}${SEP}${c.variant}`;
    try {
      if (!(await this.store.setIfAbsent(seen, '1', COMPLETION_DEDUP_MS))) return false;
      await this.store.hIncrBy(INDEX, id, 1);
      await this.store.hIncrBy(`report:${id}`, 'completion_tokens', c.completionTokens);
      await this.store.hIncrBy(`report:${id}`, bucketField(c.totalMs), 1);
      await this.store.hIncrBy(`report:${id}`, 'completions', 1);
    } catch (err) {
      // Forget the id so the redelivery counts it rather than skips it: a timed-out setIfAbsent may
      // still run when the connection comes back (the client queues it), and the del runs after it.
      await this.store.del(seen).catch(() => undefined);
      throw err;
    }
    return true;
  }

  async get(feedbackId: string): Promise<StoredFeedback | null> {
    const v = await this.store.get(`feedback:${feedbackId}`);
    return v === null ? null : (JSON.parse(v) as StoredFeedback);
  }

  /** Totals per variant, optionally for one model, sorted by model then variant. */
  async totals(model?: string): Promise<VariantTotals[]> {
    const index = await this.store.hGetAll(INDEX);
    const out: VariantTotals[] = [];
    for (const id of Object.keys(index).sort()) {
      const [m, variant] = id.split(SEP) as [string, string];
      if (model && m !== model) continue;
      const h = await this.store.hGetAll(`report:${id}`);
      const count = Number(h['feedback_count'] ?? 0);
      out.push({
        model: m,
        variant,
        completions: Number(h['completions'] ?? 0),
        completionTokens: Number(h['completion_tokens'] ?? 0),
        latencyP50Ms: quantile(0.5, h),
        latencyP99Ms: quantile(0.99, h),
        feedbackCount: count,
        meanRating: count ? Number(h['rating_sum'] ?? 0) / count : 0,
      });
    }
    return out;
  }
}
