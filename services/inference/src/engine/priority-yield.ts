/**
 * Which priorities must yield: a request may start unless a better (lower) priority is running,
 * or had a request leave less than `windowMs` ago, and `rows` requests of its priority or worse
 * run already. The queue already puts better priorities first; this also keeps worse ones out of
 * the decode steps the better ones share (each row costs every row of the step on a CPU), down
 * to `rows` of them, so they always progress. What runs is the engine's: only when each
 * priority last had a request leave is kept here.
 */
export class PriorityYield {
  /** performance.now() when a request of each priority last left; pruned once past the window. */
  private readonly leftAt = new Map<number, number>();

  constructor(
    private readonly rows: number,
    private readonly windowMs: number,
  ) {}

  /** Whether a request of `priority` may start now, beside the requests `running`. */
  mayStart(priority: number, running: Iterable<{ readonly priority: number }>, now: number): boolean {
    if (this.rows === 0) return true;
    let worse = 0;
    let better = false;
    for (const r of running) {
      if (r.priority < priority) better = true;
      else worse++;
    }
    return worse < this.rows || (!better && !this.betterLeftRecently(priority, now));
  }

  left(priority: number, now: number): void {
    this.leftAt.set(priority, now);
  }

  private betterLeftRecently(priority: number, now: number): boolean {
    let recent = false;
    for (const [p, at] of this.leftAt) {
      if (now - at >= this.windowMs) this.leftAt.delete(p);
      else if (p < priority) recent = true;
    }
    return recent;
  }
}
