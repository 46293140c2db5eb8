import { loadLoraAdapter, type LoraAdapter, type ModelSpec, stackAdapters } from '@tokenmesh/model';

import type { Batcher } from './batcher';
import type { LoraSessions } from './load-model';

/**
 * The worker's adapters by slot, loaded at start or at run time. A change restacks the LoRA
 * inputs and hands them to the batcher, which uses them from its next pass on; onnxruntime's
 * sessions are never re-created for it (the LoRA exports are loaded once, at the first adapter).
 */
export class AdapterSlots {
  /** Slot k + 1 holds the k-th; undefined: a free slot (zeros). */
  private readonly adapters: (LoraAdapter | undefined)[];
  private sessions: Promise<LoraSessions> | undefined;
  /** Changes apply in the order they were asked for. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly spec: ModelSpec,
    private readonly batcher: Batcher,
    private readonly loadSessions: () => Promise<LoraSessions>,
    atStart: readonly LoraAdapter[],
    loaded?: LoraSessions,
  ) {
    this.adapters = [...atStart];
    if (!loaded) return;
    this.sessions = Promise.resolve(loaded);
    this.apply(loaded);
  }

  /** Every LoRA session loaded so far (for release at close). */
  async loadedSessions(): Promise<LoraSessions | undefined> {
    return this.sessions?.catch(() => undefined);
  }

  /** @returns the adapter's rank. @throws AdapterError (bad directory, another base) or the export's error */
  load(slot: number, dir: string): Promise<number> {
    return this.serial(async () => {
      const adapter = await loadLoraAdapter(dir, this.spec);
      // A failed load of the exports is not kept: the next adapter tries again.
      this.sessions ??= this.loadSessions().catch((err: unknown) => {
        this.sessions = undefined;
        throw err;
      });
      const sessions = await this.sessions;
      this.adapters[slot - 1] = adapter;
      this.apply(sessions);
      return adapter.rank;
    });
  }

  unload(slot: number): Promise<void> {
    return this.serial(async () => {
      this.adapters[slot - 1] = undefined;
      while (this.adapters.length > 0 && this.adapters.at(-1) === undefined) this.adapters.pop();
      if (this.sessions) this.apply(await this.sessions);
    });
  }

  private apply(sessions: LoraSessions): void {
    this.batcher.setLora({ ...sessions, stack: stackAdapters(this.spec, this.adapters) });
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
