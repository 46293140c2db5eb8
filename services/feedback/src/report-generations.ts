import type { Store } from '@tokenmesh/store';

/**
 * The one key naming the report's generations. It is written with the report, so its absence
 * means the store lost the report (a Redis restart without persistence, FLUSHALL, eviction) or
 * never had one: the sign for a rebuild from the events stream.
 */
export const POINTER_KEY = 'feedback:report';

/**
 * Which generation of aggregates the report reads (`live`) and which one a rebuild is filling
 * (`building`). Every key of the report carries its generation, so a rebuild fills fresh keys
 * and one write of this pointer makes them the report: a read sees the old totals or the new
 * ones, never half a rebuild.
 */
export interface ReportPointer {
  readonly live?: string;
  readonly building?: string;
  /** When `live` was made the report by a rebuild. */
  readonly rebuiltAtMs?: number;
}

/**
 * Reads and writes the pointer. Read once per event, submission and report, never cached: replicas
 * and a rebuild in another process (the operator's CLI) change it under the running consumer.
 */
export class ReportGenerations {
  private lostListener: (() => void) | undefined;

  constructor(private readonly store: Store) {}

  /** Called (synchronously, must not throw) each time a read finds the pointer missing. */
  onLost(listener: () => void): void {
    this.lostListener = listener;
  }

  /** The pointer, or null when the store has none (and then the lost listener is told). */
  async read(): Promise<ReportPointer | null> {
    const p = await this.peek();
    if (p === null) this.lostListener?.();
    return p;
  }

  /** The pointer, or null, telling no one: for the rebuild itself. */
  async peek(): Promise<ReportPointer | null> {
    const raw = await this.store.get(POINTER_KEY);
    return raw === null ? null : (JSON.parse(raw) as ReportPointer);
  }

  async write(p: ReportPointer): Promise<void> {
    await this.store.set(POINTER_KEY, JSON.stringify(p));
  }

  /** Removes the pointer: the store holds no report (a rebuild that found it missing and failed). */
  async clear(): Promise<void> {
    await this.store.del(POINTER_KEY);
  }

  /**
   * The generations a new event is counted in: the live one and the one being rebuilt. None when
   * the report is lost: the event is still in the stream, and the rebuild that the loss triggers
   * replays it.
   */
  async writeTargets(): Promise<string[]> {
    const p = await this.read();
    return [p?.live, p?.building].filter((g): g is string => g !== undefined);
  }

  /** The generation the report reads; undefined while none is complete. */
  async live(): Promise<string | undefined> {
    return (await this.read())?.live;
  }
}
