/** One thing wrong with an input: where it is and what is wrong with it. */
export interface Problem {
  /** The field's path (`PORT`, `models.tinygpt.variants[0].weight`, `messages[1].role`); '' for the input as a whole. */
  readonly path: string;
  /** What is wrong, without the path: `must be an integer, got "80a"`. */
  readonly text: string;
}

/** A problem as configuration errors print it: `PORT must be an integer, got "80a"`. */
export function problemLine(p: Problem): string {
  return p.path === '' ? p.text : `${p.path} ${p.text}`;
}

/**
 * The problems found while reading one input. Collected, so that one error can name all of them
 * (a misconfigured service reports every bad variable at start, a bad file every bad field); or,
 * with an `onProblem` that throws, reading stops at the first (a REST body: a 400 naming the field).
 */
export class Problems {
  private readonly found: Problem[] = [];

  constructor(private readonly onProblem?: (p: Problem) => void) {}

  add(path: string, text: string): void {
    const p = { path, text };
    this.found.push(p);
    this.onProblem?.(p);
  }

  /** Records `text` at `path` unless `ok`. */
  check(ok: boolean, path: string, text: string): void {
    if (!ok) this.add(path, text);
  }

  get size(): number {
    return this.found.length;
  }

  get all(): readonly Problem[] {
    return this.found;
  }

  /** Every problem as a line, in the order found. */
  lines(): string[] {
    return this.found.map(problemLine);
  }

  /** @throws what `error` makes of the problems, when there is any. */
  throwIfAny(error: (problems: Problems) => Error): void {
    if (this.found.length > 0) throw error(this);
  }
}
