/**
 * Work in flight (calls, streams) and a wait for the last of it to end: a server's in-process
 * calls when it drains, a model's streams when it is unloaded.
 */
export class InFlight {
  private open = 0;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.open;
  }

  /** One starts; call the returned function once when it ends (again: nothing). */
  enter(): () => void {
    this.open++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      if (--this.open > 0) return;
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    };
  }

  /** Resolves once none is in flight (at once when none is). */
  idle(): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
