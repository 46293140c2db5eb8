/** How long the first calls of a choice group wait for the rest before they go on without them. */
export const CHOICE_GATE_WAIT_MS = 20;

interface Group {
  readonly size: number;
  arrived: number;
  /** Calls waiting to be let through together. */
  readonly waiting: (() => void)[];
  /** Once open (complete, or waited long enough), later calls of the group go straight on. */
  open: boolean;
  readonly timer: NodeJS.Timeout;
}

/**
 * Holds the calls of a choice group (the n choices of one prompt, sent as n Generate calls) until
 * all have arrived, then lets them on in one turn of the event loop: the engine posts them to the
 * worker together and the worker prefills the prompt once for all of them. A group that does not
 * complete within `waitMs` goes on with the calls it has; late ones are not held.
 */
export class ChoiceGate {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly waitMs = CHOICE_GATE_WAIT_MS) {}

  /** Resolves when this call of `group` may go on (at once without a group, or when aborted). */
  arrive(group: string, size: number, signal: AbortSignal): Promise<void> {
    if (group === '' || size <= 1 || signal.aborted) return Promise.resolve();
    let g = this.groups.get(group);
    if (!g) {
      // The group is forgotten a while after it opens: all its calls have come by then.
      const timer = setTimeout(() => this.open(group, true), this.waitMs).unref();
      g = { size, arrived: 0, waiting: [], open: false, timer };
      this.groups.set(group, g);
    }
    g.arrived++;
    if (g.open) {
      if (g.arrived >= g.size) this.forget(group);
      return Promise.resolve();
    }
    const entry = g;
    return new Promise<void>((resolve) => {
      entry.waiting.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
      if (entry.arrived >= entry.size) this.open(group, false);
    });
  }

  private open(group: string, timedOut: boolean): void {
    const g = this.groups.get(group);
    if (!g || g.open) return;
    g.open = true;
    clearTimeout(g.timer);
    for (const resolve of g.waiting.splice(0)) resolve();
    if (!timedOut) this.forget(group);
    // Timed out: stragglers may still come; keep the group open (not held) a little longer.
    else setTimeout(() => this.forget(group), 10 * this.waitMs).unref();
  }

  private forget(group: string): void {
    const g = this.groups.get(group);
    if (g) clearTimeout(g.timer);
    this.groups.delete(group);
  }

  /** Groups held or open now (for tests). */
  get size(): number {
    return this.groups.size;
  }
}
