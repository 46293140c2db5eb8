/**
 * Time to first token and tokens per second of one stream, from the page's own clock (`now`:
 * performance.now in the page): what the person waited, not what the worker measured.
 */
export class StreamMeter {
  readonly #started: number;
  #first: number | undefined;
  #last: number | undefined;
  #chunks = 0;

  constructor(now: number) {
    this.#started = now;
  }

  /** A chunk with text arrived. */
  chunk(now: number): void {
    this.#first ??= now;
    this.#last = now;
    this.#chunks += 1;
  }

  /** Milliseconds from sending to the first text; undefined before it. */
  get ttftMs(): number | undefined {
    return this.#first === undefined ? undefined : this.#first - this.#started;
  }

  get chunks(): number {
    return this.#chunks;
  }

  /**
   * Tokens per second after the first token: `tokens` generated (usage's completion tokens once
   * the stream ends; chunks while it runs, one token each unless the page fell behind).
   */
  tokensPerSecond(tokens = this.#chunks): number | undefined {
    if (this.#first === undefined || this.#last === undefined || tokens < 2 || this.#last <= this.#first) return undefined;
    return (tokens - 1) / ((this.#last - this.#first) / 1000);
  }
}
