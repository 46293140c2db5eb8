/** Streams open on one model, and a wait for the last to end (an unload waits for its streams). */
export class StreamCount {
  private open = 0;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.open;
  }

  /** A stream starts; call the returned function once when it ends. */
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

  /** Resolves once no stream is open (at once when none is). */
  idle(): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
