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
 * Reads typed values from an environment. Each getter records a problem naming the variable and
 * the value given instead of throwing, so `done()` can report all of them at once.
 */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Readonly<Record<string, string | undefined>> = process.env) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  /** A string; `default` when unset or empty. */
  str(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  /** A string or undefined when unset. */
  optional(name: string): string | undefined {
    return this.raw(name);
  }

  /** A string that must be set. */
  required(name: string, hint = ''): string {
    const v = this.raw(name);
    if (v === undefined) this.problems.push(`${name} is required${hint ? ` (${hint})` : ''}`);
    return v ?? '';
  }

  private number<T extends number | undefined>(name: string, opts: NumberOptions<T>, integer: boolean): number | T {
    const v = this.raw(name);
    if (v === undefined) return opts.default;
    const n = Number(v);
    const kind = integer ? 'an integer' : 'a number';
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      this.problems.push(`${name} must be ${kind}, got ${JSON.stringify(v)}`);
      return opts.default;
    }
    if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
      const range = `${opts.min ?? '-∞'}..${opts.max ?? '∞'}`;
      this.problems.push(`${name} must be in ${range}, got ${v}`);
      return opts.default;
    }
    return n;
  }

  int(name: string, opts: NumberOptions<number>): number;
  int(name: string, opts: NumberOptions<undefined>): number | undefined;
  int(name: string, opts: NumberOptions<number | undefined>): number | undefined {
    return this.number(name, opts, true);
  }

  float(name: string, opts: NumberOptions<number>): number {
    return this.number(name, opts, false);
  }

  /** true/false, 1/0, yes/no, on/off. */
  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name} must be true or false, got ${JSON.stringify(v)}`);
    return fallback;
  }

  /** Comma-separated, trimmed, empties dropped. */
  list(name: string, fallback: readonly string[]): string[] {
    const v = this.raw(name);
    return v === undefined ? [...fallback] : v.split(',').map((s) => s.trim()).filter(Boolean);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v as T;
  }

  private checkUrl(name: string, v: string, protocols: readonly string[]): boolean {
    let protocol: string;
    try {
      protocol = new URL(v).protocol.slice(0, -1);
    } catch {
      this.problems.push(`${name} must be an absolute URL, got ${JSON.stringify(v)}`);
      return false;
    }
    if (protocols.length > 0 && !protocols.includes(protocol)) {
      this.problems.push(`${name} must be a ${protocols.join(' or ')} URL, got ${JSON.stringify(v)}`);
      return false;
    }
    return true;
  }

  /** An absolute URL (e.g. nats://…, redis://…), optionally limited to some schemes; undefined when unset. */
  url(name: string, protocols: readonly string[] = []): string | undefined {
    const v = this.raw(name);
    return v !== undefined && this.checkUrl(name, v, protocols) ? v : undefined;
  }

  /** Comma-separated URLs, each checked as {@link url}. */
  urlList(name: string, fallback: readonly string[], protocols: readonly string[] = []): string[] {
    return this.list(name, fallback).filter((v) => this.checkUrl(name, v, protocols));
  }

  /** Records a cross-field problem when `ok` is false. */
  check(ok: boolean, problem: string): void {
    if (!ok) this.problems.push(problem);
  }

  /** @throws ConfigError listing every problem recorded so far. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}
