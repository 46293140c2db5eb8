import type { Store } from '@tokenmesh/store';

import { bucketField, quantile } from './latency-histogram';
import { ReportGenerations } from './report-generations';

/** Feedback kept for a while so it can be audited or joined with completions later. */
export const FEEDBACK_TTL_MS = 30 * 24 * 3600 * 1000;

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

/** How long a feedback id is remembered per generation: the feedback's event may reach the consumer long after the submission counted it. */
const FEEDBACK_DEDUP_MS = FEEDBACK_TTL_MS;

const index = (gen: string) => `feedback:variants:${gen}`;
const report = (gen: string, id: string) => `report:${gen}:${id}`;

/**
 * Feedback records and per-(model, variant) running totals in the store: feedback count and
 * rating sum, completions, completion tokens and a latency histogram. Every update is a single
 * atomic store operation, so several feedback replicas can share one Redis.
 *
 * Totals live in generations (`ReportGenerations`): each event is counted in every generation the
 * pointer names, once per generation (dedup by request id for completions, by feedback id for
 * feedback), so a submission, the live consumer and a rebuild's replay can all meet the same event
 * and it still counts once.
 */
export class FeedbackAggregates {
  constructor(
    private readonly store: Store,
    readonly generations: ReportGenerations = new ReportGenerations(store),
  ) {}

  /** Stores the record and counts it in the report's generations. */
  async record(f: StoredFeedback): Promise<void> {
    await this.store.set(`feedback:${f.feedbackId}`, JSON.stringify(f), { ttlMs: FEEDBACK_TTL_MS });
    await this.countFeedback(f);
  }

  /**
   * Puts back a feedback record the store lost, from its event, for the rest of its TTL; an
   * existing record (with its comment, which events do not carry) is kept.
   */
  async restoreRecord(f: StoredFeedback, now = Date.now()): Promise<void> {
    const ttlMs = f.receivedAtMs + FEEDBACK_TTL_MS - now;
    if (ttlMs > 0) await this.store.setIfAbsent(`feedback:${f.feedbackId}`, JSON.stringify(f), ttlMs);
  }

  /** Counts feedback once per feedback id in each generation (default: the pointer's); true when counted anywhere. */
  async countFeedback(f: StoredFeedback, gens?: readonly string[]): Promise<boolean> {
    let counted = false;
    for (const gen of gens ?? (await this.generations.writeTargets())) {
      const id = `${f.model}${SEP}${f.variant}`;
      const seen = `feedback-counted:${gen}:${f.feedbackId}`;
      counted =
        (await this.counted(seen, FEEDBACK_DEDUP_MS, async () => {
          // Counts last: a report read between these writes never counts an entry whose sums are missing.
          await this.store.hIncrBy(index(gen), id, 1);
          await this.store.hIncrByFloat(report(gen, id), 'rating_sum', f.rating);
          await this.store.hIncrBy(report(gen, id), 'feedback_count', 1);
        })) || counted;
    }
    return counted;
  }

  /** Counts a completion once per request id in each generation (default: the pointer's); false when already counted everywhere. */
  async recordCompletion(c: CompletionFacts, gens?: readonly string[]): Promise<boolean> {
    let counted = false;
    for (const gen of gens ?? (await this.generations.writeTargets())) {
      const id = `${c.model}${SEP}${c.variant}`;
      counted =
        (await this.counted(`completion-seen:${gen}:${c.requestId}`, COMPLETION_DEDUP_MS, async () => {
          await this.store.hIncrBy(index(gen), id, 1);
          await this.store.hIncrBy(report(gen, id), 'completion_tokens', c.completionTokens);
          await this.store.hIncrBy(report(gen, id), bucketField(c.totalMs), 1);
          await this.store.hIncrBy(report(gen, id), 'completions', 1);
        })) || counted;
    }
    return counted;
  }

  // Runs `count` unless `seen` was set before; false when it was.
  private async counted(seen: string, ttlMs: number, count: () => Promise<void>): Promise<boolean> {
    try {
      if (!(await this.store.setIfAbsent(seen, '1', ttlMs))) return false;
      await count();
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

  /**
   * Lets generation `gen`'s totals expire after `ms` (a replaced or abandoned generation). Not at
   * once: a report read that fetched the pointer before the flip may still be reading them.
   */
  async expireGeneration(gen: string, ms: number): Promise<void> {
    const ids = Object.keys(await this.store.hGetAll(index(gen)));
    for (const id of ids) await this.store.expire(report(gen, id), ms);
    await this.store.expire(index(gen), ms);
  }

  /** Totals per variant of the live generation, optionally for one model, sorted by model then variant; none while the report is lost. */
  async totals(model?: string): Promise<VariantTotals[]> {
    const gen = await this.generations.live();
    if (gen === undefined) return [];
    const variants = await this.store.hGetAll(index(gen));
    const out: VariantTotals[] = [];
    for (const id of Object.keys(variants).sort()) {
      const [m, variant] = id.split(SEP) as [string, string];
      if (model && m !== model) continue;
      const h = await this.store.hGetAll(report(gen, id));
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
