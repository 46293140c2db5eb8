import { FieldReader } from './field-reader';

/** Thrown once with every problem found, so a misconfigured service reports all of them at start. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface NumberOptions<T> {
  default: T;
  min?: number;
  max?: number;
}

/**
 * Reads typed values from an environment: a {@link FieldReader} over text, with a default for
 * every variable. Each getter records a problem naming the variable and the value given instead
 * of throwing, so `done()` can report all of them at once.
 */
export class EnvReader {
  private readonly fields: FieldReader;

  constructor(env: Readonly<Record<string, string | undefined>> = process.env) {
    this.fields = new FieldReader(env, { text: true });
  }

  /** A string; `default` when unset or empty. */
  str(name: string, fallback: string): string {
    return this.fields.string(name) ?? fallback;
  }

  /** A string or undefined when unset. */
  optional(name: string): string | undefined {
    return this.fields.string(name);
  }

  /** A string that must be set. */
  required(name: string, hint = ''): string {
    const v = this.fields.string(name);
    if (v === undefined) this.fields.problem(name, `is required${hint ? ` (${hint})` : ''}`);
    return v ?? '';
  }

  int(name: string, opts: NumberOptions<number>): number;
  int(name: string, opts: NumberOptions<undefined>): number | undefined;
  int(name: string, opts: NumberOptions<number | undefined>): number | undefined {
    return this.fields.integer(name, { min: opts.min, max: opts.max }) ?? opts.default;
  }

  float(name: string, opts: NumberOptions<number>): number {
    return this.fields.number(name, { min: opts.min, max: opts.max }) ?? opts.default;
  }

  /** true/false, 1/0, yes/no, on/off. */
  bool(name: string, fallback: boolean): boolean {
    return this.fields.boolean(name) ?? fallback;
  }

  /** Comma-separated, trimmed, empties dropped. */
  list(name: string, fallback: readonly string[]): string[] {
    return this.fields.strings(name) ?? [...fallback];
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    return this.fields.oneOf(name, allowed) ?? fallback;
  }

  private checkUrl(name: string, v: string, protocols: readonly string[]): boolean {
    let protocol: string;
    try {
      protocol = new URL(v).protocol.slice(0, -1);
    } catch {
      this.fields.problem(name, `must be an absolute URL, got ${JSON.stringify(v)}`);
      return false;
    }
    if (protocols.length > 0 && !protocols.includes(protocol)) {
      this.fields.problem(name, `must be a ${protocols.join(' or ')} URL, got ${JSON.stringify(v)}`);
      return false;
    }
    return true;
  }

  /** An absolute URL (e.g. nats://…, redis://…), optionally limited to some schemes; undefined when unset. */
  url(name: string, protocols: readonly string[] = []): string | undefined {
    const v = this.fields.string(name);
    return v !== undefined && this.checkUrl(name, v, protocols) ? v : undefined;
  }

  /** Comma-separated URLs, each checked as {@link url}. */
  urlList(name: string, fallback: readonly string[], protocols: readonly string[] = []): string[] {
    return this.list(name, fallback).filter((v) => this.checkUrl(name, v, protocols));
  }

  /** Records a cross-field problem when `ok` is false. */
  check(ok: boolean, problem: string): void {
    this.fields.check(ok, '', problem);
  }

  /** @throws ConfigError listing every problem recorded so far. */
  done(): void {
    this.fields.done((p) => new ConfigError(p.lines()));
  }
}
