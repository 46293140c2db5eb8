import type { BatchRecord, BatchStore } from '@tokenmesh/batch';

/** Batches a process keeps at once; past this it starts over (a process runs a few batches at a time). */
const MAX_BATCHES = 256;
/** How stale a "was it cancelled?" answer may be: a cancel takes effect within this, line by line. */
const CANCEL_TTL_MS = 1000;

/**
 * What runners ask of a batch per line, asked of the store once per batch (the owner, the
 * endpoint and the total never change) and once a second (a cancel): an object-store read per
 * line would cost more than many lines.
 */
export class BatchCache {
  private readonly records = new Map<string, Promise<BatchRecord | undefined>>();
  private readonly cancels = new Map<string, { at: number; cancelled: Promise<boolean> }>();

  constructor(private readonly store: BatchStore) {}

  /** The batch as created (its status may since have moved on: read the store for that). */
  record(id: string): Promise<BatchRecord | undefined> {
    let r = this.records.get(id);
    if (!r) {
      if (this.records.size >= MAX_BATCHES) this.records.clear();
      r = this.store.record(id).catch((err: unknown) => {
        this.records.delete(id);
        throw err;
      });
      this.records.set(id, r);
    }
    return r;
  }

  cancelled(id: string): Promise<boolean> {
    const now = Date.now();
    const c = this.cancels.get(id);
    if (c && now - c.at < CANCEL_TTL_MS) return c.cancelled;
    if (this.cancels.size >= MAX_BATCHES) this.cancels.clear();
    const cancelled = this.store.cancelRequestedAt(id).then(
      (at) => at !== undefined,
      (err: unknown) => {
        this.cancels.delete(id);
        throw err;
      },
    );
    this.cancels.set(id, { at: now, cancelled });
    return cancelled;
  }
}
