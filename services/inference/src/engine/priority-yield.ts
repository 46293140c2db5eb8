/**
 * Which priorities must yield: a request may start unless a better (lower) priority is running,
 * or stopped running less than `windowMs` ago, and `rows` requests of its priority or worse run
 * already. The queue already puts better priorities first; this also keeps worse ones out of the
 * decode steps the better ones share (each row costs every row of the step on a CPU), down to
 * `rows` of them, so they always progress.
 */
export class PriorityYield {
  private readonly running = new Map<number, number>();
  /** performance.now() when each priority's last running request left. */
  private readonly idleSince = new Map<number, number>();

  constructor(
    private readonly rows: number,
    private readonly windowMs: number,
  ) {}

  /** Whether a request of `priority` may start now, with the others running. */
  mayStart(priority: number, now: number): boolean {
    if (this.rows === 0 || !this.betterActive(priority, now)) return true;
    let worse = 0;
    for (const [p, n] of this.running) if (p >= priority) worse += n;
    return worse < this.rows;
  }

  started(priority: number): void {
    this.running.set(priority, (this.running.get(priority) ?? 0) + 1);
  }

  left(priority: number, now: number): void {
    const n = (this.running.get(priority) ?? 1) - 1;
    if (n > 0) this.running.set(priority, n);
    else {
      this.running.delete(priority);
      this.idleSince.set(priority, now);
    }
  }

  private betterActive(priority: number, now: number): boolean {
    for (const [p, n] of this.running) if (p < priority && n > 0) return true;
    let active = false;
    for (const [p, at] of this.idleSince) {
      if (now - at >= this.windowMs) this.idleSince.delete(p);
      else if (p < priority) active = true;
    }
    return active;
  }
}
