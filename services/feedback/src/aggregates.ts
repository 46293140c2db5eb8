import type { Store } from '@tokenmesh/store';

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

export interface VariantTotals {
  readonly model: string;
  readonly variant: string;
  readonly feedbackCount: number;
  readonly meanRating: number;
}

/**
 * Feedback records and per-(model, variant) running totals in the store. Every update is a
 * single atomic store operation, so several feedback replicas can share one Redis.
 */
export class FeedbackAggregates {
  constructor(private readonly store: Store) {}

  async record(f: StoredFeedback): Promise<void> {
    await this.store.set(`feedback:${f.feedbackId}`, JSON.stringify(f), { ttlMs: FEEDBACK_TTL_MS });
    const key = `report:${f.model}${SEP}${f.variant}`;
    await this.store.hIncrBy(key, 'feedback_count', 1);
    await this.store.hIncrByFloat(key, 'rating_sum', f.rating);
    await this.store.hIncrBy(INDEX, `${f.model}${SEP}${f.variant}`, 1);
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
      out.push({ model: m, variant, feedbackCount: count, meanRating: count ? Number(h['rating_sum'] ?? 0) / count : 0 });
    }
    return out;
  }
}
