import { type BatchStore, isTerminal, type Outcomes } from '@tokenmesh/batch';
import { askAtScrape } from '@tokenmesh/bus';
/** Batches followed at once; more are dropped oldest first (their series go with them). */
const MAX_BATCHES = 256;

export interface BatchProgressRow {
  readonly batch: string;
  readonly total: number;
  readonly outcomes: Outcomes;
}

/**
 * The batches whose lines this process has run, until they end: each one's counts, read from the
 * store (the results stream), so they are the same on every replica that ran its lines.
 */
export class BatchProgress {
  private readonly live = new Set<string>();

  constructor(private readonly store: BatchStore) {}

  seen(batchId: string): void {
    if (this.live.has(batchId)) return;
    if (this.live.size >= MAX_BATCHES) this.live.delete(this.live.values().next().value!);
    this.live.add(batchId);
  }

  /**
   * The live batches' counts, and the batches that ended since the last read (forgotten now);
   * undefined when the store did not answer in time.
   */
  async read(): Promise<{ rows: BatchProgressRow[]; ended: string[] } | undefined> {
    const answers = await askAtScrape(
      Promise.all(
        [...this.live].map(async (batch) => {
          const [record, outcomes] = await Promise.all([this.store.record(batch), this.store.outcomes(batch)]);
          return { batch, record, outcomes };
        }),
      ),
    );
    if (!answers) return undefined;
    const rows: BatchProgressRow[] = [];
    const ended: string[] = [];
    for (const { batch, record, outcomes } of answers) {
      if (!record || isTerminal(record.status)) {
        this.live.delete(batch);
        ended.push(batch);
      } else rows.push({ batch, total: record.total, outcomes });
    }
    return { rows, ended };
  }
}
