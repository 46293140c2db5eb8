import { Problems } from './problems';

/** A value at fault as JSON (strings quoted): `got "80a"`, `got [1,2]`. */
export function jsonValue(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** A value at fault as a person wrote it in YAML, short enough for one line: nothing, null, a list, a mapping, "text", 5. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return String(value);
}

/** `.name` when the key reads unambiguously in a dotted path, `["odd key"]` otherwise, `[3]` for list items. */
export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (/^[\w-]+$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

export interface ReaderOptions {
  /** Where problems go; share one between readers to report them together. Default: a new one. */
  readonly problems?: Problems;
  /** How the value at fault is shown after "got". Default {@link jsonValue}. */
  readonly show?: (value: unknown) => string;
  /**
   * null reads as absent (JSON bodies, key records). false: null is a value, and a wrong one (YAML, where `key:` with nothing
   * after it is null). Default true.
   */
  readonly nullIsAbsent?: boolean;
  /** Values are text to parse (environment variables): trimmed, '' is absent, numbers and booleans parsed, lists comma-separated. */
  readonly text?: boolean;
  /** Numbers must be finite. false for JSON bodies, where 1e999 parses as Infinity and the range checks after the reader name it. Default true. */
  readonly finite?: boolean;
}

type Context = Required<Omit<ReaderOptions, 'problems'>> & { readonly problems: Problems };

function context(opts: ReaderOptions): Context {
  return {
    problems: opts.problems ?? new Problems(),
    show: opts.show ?? jsonValue,
    nullIsAbsent: opts.nullIsAbsent ?? true,
    text: opts.text ?? false,
    finite: opts.finite ?? true,
  };
}

/** What a field must be, when the default wording does not say it well enough. */
export interface Expectation {
  /** The problem reads `must be <want>, got <value>`. */
  readonly want?: string;
  /** The whole problem, without the value (e.g. a field that holds a secret). */
  readonly message?: string;
  /** Absent is a problem too (and shown as the absent value: `got nothing`). */
  readonly required?: boolean;
}

export interface StringRule extends Expectation {
  readonly test?: (s: string) => boolean;
}

export interface NumberRule extends Expectation {
  readonly integer?: boolean;
  readonly min?: number;
  readonly max?: number;
}

export interface StringsRule extends Expectation {
  /** A lone string reads as a list of one (OpenAI's `stop`). */
  readonly orString?: boolean;
  readonly nonEmpty?: boolean;
  readonly test?: (s: string) => boolean;
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * One value of an untyped input and its path. Each typed read returns the value, or undefined
 * when it is absent or wrong; a wrong value (or an absent required one) is recorded as a problem
 * naming the path and what was expected, instead of thrown.
 */
export class Field {
  constructor(
    readonly path: string,
    readonly value: unknown,
    private readonly ctx: Context,
  ) {}

  get absent(): boolean {
    const v = this.value;
    return v === undefined || (v === null && this.ctx.nullIsAbsent) || (this.ctx.text && v === '');
  }

  problem(text: string): void {
    this.ctx.problems.add(this.path, text);
  }

  /** Records `must be <want>, got <value>`: for a shape the typed reads do not check. */
  wrong(want: string): undefined {
    return this.fault({}, want);
  }

  /** `must be <want>, got <value>`, or the rule's own words. */
  private fault(rule: Expectation, want: string, got: string = this.ctx.show(this.value)): undefined {
    this.problem(rule.message ?? `must be ${rule.want ?? want}, got ${got}`);
    return undefined;
  }

  private read<T>(rule: Expectation, want: string, read: (v: unknown) => T | undefined): T | undefined {
    if (this.absent) return rule.required ? this.fault(rule, want) : undefined;
    return read(this.value);
  }

  string(rule: StringRule = {}): string | undefined {
    return this.read(rule, 'a string', (v) => (typeof v === 'string' && (rule.test?.(v) ?? true) ? v : this.fault(rule, 'a string')));
  }

  number(rule: NumberRule = {}): number | undefined {
    const want = rule.integer ? 'an integer' : 'a number';
    return this.read(rule, want, (v) => {
      const n = this.ctx.text && typeof v === 'string' ? Number(v) : v;
      if (typeof n !== 'number' || Number.isNaN(n) || (this.ctx.finite && !Number.isFinite(n)) || (rule.integer && !Number.isInteger(n)))
        return this.fault(rule, want);
      if ((rule.min !== undefined && n < rule.min) || (rule.max !== undefined && n > rule.max)) {
        // Text shows as written: `got 0`, not `got "0"`.
        return this.fault(rule, `in ${rule.min ?? '-∞'}..${rule.max ?? '∞'}`, this.ctx.text ? String(v) : undefined);
      }
      return n;
    });
  }

  integer(rule: Omit<NumberRule, 'integer'> = {}): number | undefined {
    return this.number({ ...rule, integer: true });
  }

  /** true or false; as text also 1/0, yes/no, on/off. */
  boolean(rule: Expectation = {}): boolean | undefined {
    const want = 'true or false';
    return this.read(rule, want, (v) => {
      if (typeof v === 'boolean') return v;
      if (!this.ctx.text || typeof v !== 'string') return this.fault(rule, want);
      const word = v.toLowerCase();
      if (TRUE.includes(word)) return true;
      if (FALSE.includes(word)) return false;
      return this.fault(rule, want, this.ctx.show(word));
    });
  }

  oneOf<T extends string>(allowed: readonly T[], rule: Expectation = {}): T | undefined {
    const want = `one of ${allowed.join(', ')}`;
    return this.read(rule, want, (v) => (typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : this.fault(rule, want)));
  }

  /** A list of strings; as text, comma-separated, trimmed, empties dropped. */
  strings(rule: StringsRule = {}): string[] | undefined {
    const want = rule.orString ? 'a string or an array of strings' : 'a list of strings';
    return this.read(rule, want, (v) => {
      if (this.ctx.text && typeof v === 'string')
        return v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      if (rule.orString && typeof v === 'string') return [v];
      const ok = Array.isArray(v) && (!rule.nonEmpty || v.length > 0) && v.every((s) => typeof s === 'string' && (rule.test?.(s) ?? true));
      return ok ? [...(v as string[])] : this.fault(rule, want);
    });
  }

  /** A mapping (not a list), read field by field. */
  object(rule: Expectation = {}): FieldReader | undefined {
    return this.read(rule, 'an object', (v) => (isMapping(v) ? new FieldReader(v, { ...this.ctx, path: this.path }) : this.fault(rule, 'an object')));
  }

  /** A list, item by item (`path[i]`). */
  list(rule: Expectation = {}): Field[] | undefined {
    return this.read(rule, 'a list', (v) =>
      Array.isArray(v) ? v.map((item: unknown, i) => new Field(joinPath(this.path, i), item, this.ctx)) : this.fault(rule, 'a list'),
    );
  }
}

/** A whole input (a parsed file, a request body, an environment) as one {@link Field} at `path`. */
export function readValue(value: unknown, opts: ReaderOptions & { readonly path?: string } = {}): Field {
  return new Field(opts.path ?? '', value, context(opts));
}

/**
 * Reads typed fields from an untyped object: an environment (`text: true`), a parsed JSON or
 * YAML file, a REST body. Every problem is recorded in `problems` with the field's path and what
 * was expected; `done` then throws one error naming all of them.
 */
export class FieldReader {
  readonly problems: Problems;
  readonly path: string;
  private readonly ctx: Context;

  constructor(
    private readonly source: Readonly<Record<string, unknown>>,
    opts: ReaderOptions & { readonly path?: string } = {},
  ) {
    this.ctx = context(opts);
    this.problems = this.ctx.problems;
    this.path = opts.path ?? '';
  }

  /** The field `name`; `fallback` stands in when it is absent. */
  field(name: string, fallback?: unknown): Field {
    const raw = this.source[name];
    const f = new Field(joinPath(this.path, name), this.ctx.text && typeof raw === 'string' ? raw.trim() : raw, this.ctx);
    return f.absent && fallback !== undefined ? new Field(f.path, fallback, this.ctx) : f;
  }

  /** The source's keys, in its order. */
  keys(): string[] {
    return Object.keys(this.source);
  }

  has(name: string): boolean {
    return !this.field(name).absent;
  }

  string(name: string, rule?: StringRule): string | undefined {
    return this.field(name).string(rule);
  }

  number(name: string, rule?: NumberRule): number | undefined {
    return this.field(name).number(rule);
  }

  integer(name: string, rule?: Omit<NumberRule, 'integer'>): number | undefined {
    return this.field(name).integer(rule);
  }

  boolean(name: string, rule?: Expectation): boolean | undefined {
    return this.field(name).boolean(rule);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], rule?: Expectation): T | undefined {
    return this.field(name).oneOf(allowed, rule);
  }

  strings(name: string, rule?: StringsRule): string[] | undefined {
    return this.field(name).strings(rule);
  }

  object(name: string, rule?: Expectation): FieldReader | undefined {
    return this.field(name).object(rule);
  }

  list(name: string, rule?: Expectation): Field[] | undefined {
    return this.field(name).list(rule);
  }

  /** Records a problem with field `name` ('' for this object as a whole). */
  problem(name: string, text: string): void {
    this.problems.add(name === '' ? this.path : joinPath(this.path, name), text);
  }

  /** Records a problem (cross-field, e.g. `A (9) must be <= B (8)`) unless `ok`. */
  check(ok: boolean, name: string, text: string): void {
    if (!ok) this.problem(name, text);
  }

  /**
   * Rejects keys outside `allowed`, so that a misspelt `wieght` cannot silently become the
   * default: one problem per key (`wieght is not a known key (expected one of …)`), or one for
   * all of them worded by `together`.
   */
  unknownKeys(allowed: readonly string[], together?: (unknown: string[]) => string): void {
    const unknown = Object.keys(this.source).filter((k) => !allowed.includes(k));
    if (unknown.length === 0) return;
    if (together) this.problem('', together(unknown));
    else for (const k of unknown) this.problem(k, `is not a known key (expected one of ${allowed.join(', ')})`);
  }

  /** @throws what `error` makes of the problems, when this reader (or one sharing its Problems) found any. */
  done(error: (problems: Problems) => Error): void {
    this.problems.throwIfAny(error);
  }
}
