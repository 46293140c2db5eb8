import { create, fromJson, type JsonValue, toJson } from '@bufbuild/protobuf';
import { type HistoryEntry, HistoryEntrySchema, type Split } from '@tokenmesh/proto';
import type { Store } from '@tokenmesh/store';

const SEQ = 'registry:history:seq';
const entryKey = (seq: number) => `registry:history:${seq}`;
/** What a change records; the history numbers and dates it. */
export interface HistoryRecord {
  readonly action: 'load' | 'load-failed' | 'unload' | 'traffic' | 'rollback';
  readonly model: string;
  readonly version?: string;
  readonly workerIds?: string[];
  readonly before?: Split;
  readonly after?: Split;
  readonly detail?: string;
}
/** The most entries one listing reads back (newest first); older ones are deleted. */
export const HISTORY_SCAN_LIMIT = 1000;
/** Entries read from the store at once. */
const READ_WINDOW = 100;

/**
 * The registry's history of loads, unloads and split changes, in the store (Redis in a
 * deployment), so it survives restarts and every gateway replica sees one history: a sequence
 * number from an atomic increment, one key per entry.
 */
export class RegistryHistory {
  constructor(private readonly store: Store) {}

  async append(entry: HistoryRecord): Promise<HistoryEntry> {
    const seq = await this.store.incrBy(SEQ, 1);
    const full = create(HistoryEntrySchema, { ...entry, seq: BigInt(seq), at: new Date().toISOString() });
    await this.store.set(entryKey(seq), JSON.stringify(toJson(HistoryEntrySchema, full)));
    // Past the scan limit an entry is never read again: it goes, rather than stay in Redis forever.
    if (seq > HISTORY_SCAN_LIMIT) await this.store.del(entryKey(seq - HISTORY_SCAN_LIMIT));
    return full;
  }

  /** Newest first; `model` filters by model name. */
  async list(model: string | undefined, limit: number): Promise<HistoryEntry[]> {
    const last = Number((await this.store.get(SEQ)) ?? 0);
    const floor = Math.max(0, last - HISTORY_SCAN_LIMIT);
    const out: HistoryEntry[] = [];
    // A window of keys at a time, newest first: one round trip per window, not per entry.
    for (let top = last; top > floor && out.length < limit; top -= READ_WINDOW) {
      const seqs = Array.from({ length: Math.min(READ_WINDOW, top - floor) }, (_, i) => top - i);
      for (const text of await Promise.all(seqs.map((seq) => this.store.get(entryKey(seq))))) {
        if (!text || out.length >= limit) continue;
        const e = fromJson(HistoryEntrySchema, JSON.parse(text) as JsonValue);
        if (!model || e.model === model) out.push(e);
      }
    }
    return out;
  }

  /**
   * The split change a rollback of `model` undoes: the newest traffic change not undone by a
   * later rollback (each rollback cancels one), so repeated rollbacks walk back through history.
   */
  async toUndo(model: string): Promise<HistoryEntry | undefined> {
    let undone = 0;
    for (const e of await this.list(model, HISTORY_SCAN_LIMIT)) {
      if (e.action === 'rollback') undone++;
      else if (e.action === 'traffic') {
        if (undone === 0) return e;
        undone--;
      }
    }
    return undefined;
  }
}
