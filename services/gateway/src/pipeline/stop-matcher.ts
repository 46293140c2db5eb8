/**
 * Applies stop strings to streamed text. A delta may end with the beginning of a stop string, so
 * that tail is held back until the next delta proves or disproves the match; the stop string
 * itself is never emitted.
 */
export class StopMatcher {
  private held = '';
  private stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  get done(): boolean {
    return this.stopped;
  }

  /** There are stop strings to look for (none matched yet). */
  get active(): boolean {
    return this.stops.length > 0 && !this.stopped;
  }

  /** Text that can be released now; after a match, the text before it and `done` is true. */
  push(delta: string): string {
    if (this.stopped) return '';
    const text = this.held + delta;
    let cut = -1;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.held = '';
      return text.slice(0, cut);
    }
    const keep = this.partialTail(text);
    this.held = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** What was held back, at the end of the stream. */
  flush(): string {
    const out = this.stopped ? '' : this.held;
    this.held = '';
    return out;
  }

  /** Length of the longest suffix of text that is a proper prefix of some stop string. */
  private partialTail(text: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
        if (text.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
