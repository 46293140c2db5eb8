import { randomBytes } from 'node:crypto';

import { type Bus, EVENTS_STREAM } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import type { Store } from '@tokenmesh/store';

import type { FeedbackAggregates } from './aggregates';
import { countEvent } from './completion-consumer';
import type { ReportPointer } from './report-generations';
import { decodeReportEvent, REPORT_SUBJECTS } from './stream-events';

/** Held by the one rebuild running against this store, whichever process runs it. */
export const REBUILD_LOCK_KEY = 'feedback:report-rebuild';

/** How long a replaced generation stays readable: report reads that fetched the pointer before the flip finish on it. */
const OLD_GENERATION_GRACE_MS = 60_000;

export interface RebuildOptions {
  readonly bus: Bus;
  readonly store: Store;
  readonly aggregates: FeedbackAggregates;
  readonly logger: Logger;
  /** Why, for the log: `start`, `store lost the report`, `operator`. */
  readonly reason: string;
  /** The lock's TTL, renewed while the replay runs; a crashed rebuild frees it after this. */
  readonly lockMs: number;
  /** Abandons the rebuild (shutdown): the replay stops at the next message. */
  readonly signal?: AbortSignal;
}

// Gives the pointer back as it was, so the old report (or the missing marker, which retries the
// rebuild) stays in force; if the store lost the pointer meanwhile, it stays lost.
async function abandon(o: RebuildOptions, gen: string, before: ReportPointer | undefined): Promise<void> {
  const generations = o.aggregates.generations;
  const now = await generations.peek().catch(() => null);
  if (now?.building === gen) await (before ? generations.write(before) : generations.clear()).catch(() => undefined);
  await o.aggregates.expireGeneration(gen, OLD_GENERATION_GRACE_MS).catch(() => undefined);
}

// Only our own lock: one that expired and was taken by another rebuild is left alone.
async function releaseLock(store: Store, gen: string): Promise<void> {
  if ((await store.get(REBUILD_LOCK_KEY).catch(() => null)) === gen) await store.del(REBUILD_LOCK_KEY).catch(() => undefined);
}

export interface RebuildResult {
  readonly generation: string;
  /** Stream messages read, of any subject. */
  readonly events: number;
  readonly completions: number;
  readonly feedback: number;
  readonly malformed: number;
  /** The stream sequence the replay ended at. */
  readonly lastSeq: number;
  readonly durationMs: number;
}

/**
 * Rebuilds the report from the events stream into a fresh generation and makes it the report:
 *
 * 1. take the rebuild lock (another rebuild running: do nothing, return undefined);
 * 2. name the new generation `building` in the pointer: from then on the live consumer and
 *    submissions count every event in it too;
 * 3. replay the stream from its first message to its last at that moment into it. Every event
 *    stored after step 2 reaches the live consumer after step 2, so it is counted in the new
 *    generation either way; events both paths see count once (per-generation dedup);
 * 4. make it `live` in one write of the pointer, unless the pointer changed under the replay
 *    (the store lost it again: the rebuild fails and is retried);
 * 5. let the old generation expire after a grace.
 *
 * A failure (stream or store) leaves the old report in place and rethrows.
 */
export async function rebuildReport(o: RebuildOptions): Promise<RebuildResult | undefined> {
  const { store, aggregates, logger } = o;
  const generations = aggregates.generations;
  const gen = `g${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  if (!(await store.setIfAbsent(REBUILD_LOCK_KEY, gen, o.lockMs))) {
    logger.info('feedback report rebuild skipped: another rebuild holds the lock', { reason: o.reason });
    return undefined;
  }
  const renew = setInterval(() => void store.expire(REBUILD_LOCK_KEY, o.lockMs).catch(() => undefined), Math.max(1, Math.floor(o.lockMs / 3)));
  renew.unref();
  const t0 = performance.now();
  const before = await generations.peek().catch(async (err: unknown) => {
    clearInterval(renew);
    await releaseLock(store, gen);
    throw err;
  });
  const counts = { completions: 0, feedback: 0, malformed: 0 };
  try {
    await generations.write({ ...(before?.live !== undefined ? { live: before.live } : {}), building: gen });
    const summary = await o.bus.replay(
      EVENTS_STREAM.name,
      async (msg) => {
        o.signal?.throwIfAborted();
        const e = decodeReportEvent(msg.subject, msg.data);
        if (e.kind === 'malformed') counts.malformed++;
        else if (e.kind === 'completion') counts.completions++;
        else if (e.kind === 'feedback') counts.feedback++;
        await countEvent(aggregates, e, [gen]);
      },
      { subjects: REPORT_SUBJECTS },
    );
    const now = await generations.peek();
    if (now?.building !== gen) throw new Error(`the report pointer ${JSON.stringify(now)} changed during the rebuild of ${gen}: the store lost it again`);
    await generations.write({ live: gen, rebuiltAtMs: Date.now() });
    if (before?.live !== undefined) await aggregates.expireGeneration(before.live, OLD_GENERATION_GRACE_MS);
    const result: RebuildResult = {
      generation: gen,
      events: summary.messages,
      ...counts,
      lastSeq: summary.lastSeq,
      durationMs: Math.round(performance.now() - t0),
    };
    logger.info('feedback report rebuilt from the events stream', {
      reason: o.reason,
      generation: gen,
      replaced: before?.live ?? null,
      events: result.events,
      completions: result.completions,
      feedback: result.feedback,
      malformed: result.malformed,
      last_seq: result.lastSeq,
      duration_ms: result.durationMs,
    });
    return result;
  } catch (err) {
    await abandon(o, gen, before ?? undefined);
    throw err;
  } finally {
    clearInterval(renew);
    await releaseLock(store, gen);
  }
}
