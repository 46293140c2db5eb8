import { ANY_SHAPE, type PropertyShape, type Shape } from './json-schema-shape';

/**
 * A pushdown automaton over the bytes of a compact JSON document of a shape: a stack of frames,
 * the innermost last. Frames are immutable, so a state is shared by every candidate token tried
 * from it. Each frame knows the fewest bytes that finish it, so the automaton knows the fewest
 * that finish the document: guided decoding uses that to close the document within max_tokens.
 * No whitespace is generated between tokens: compact JSON is valid JSON, and a model cannot
 * spend its budget on spaces.
 */
export interface Frame {
  /** The frames that replace this one after `b` (the innermost last; none: this value is done), or null when `b` cannot come next. */
  step(b: number): readonly Frame[] | null;
  /** Whether this value may end here without a byte of its own (numbers: the next byte is the parent's). */
  readonly canEnd: boolean;
  /** The fewest bytes that finish this frame (not counting frames above it). */
  readonly minClose: number;
  /** Identifies the frame's state (with its shape's identity) for mask caches. */
  readonly id: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isHex = (b: number) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const utf8 = new TextEncoder();

let nextShapeId = 0;
const shapeIds = new WeakMap<Shape, number>();
function shapeId(s: Shape): number {
  let id = shapeIds.get(s);
  if (id === undefined) shapeIds.set(s, (id = nextShapeId++));
  return id;
}

/** One of several byte strings (enum / const values; a keyword: one), `pos` bytes in; `options` are those still matching. */
class Choice implements Frame {
  constructor(
    private readonly options: readonly Uint8Array[],
    private readonly pos: number,
    private readonly key: string,
  ) {}
  step(b: number): readonly Frame[] | null {
    const live = this.options.filter((o) => o.length > this.pos && o[this.pos] === b);
    if (live.length === 0) return null;
    // A value fully matched with no longer one left ends here; otherwise it may go on.
    if (live.length === 1 && live[0]!.length === this.pos + 1) return [];
    return [new Choice(live, this.pos + 1, this.key)];
  }
  get canEnd(): boolean {
    return this.options.some((o) => o.length === this.pos);
  }
  get minClose(): number {
    return Math.min(...this.options.map((o) => o.length - this.pos));
  }
  get id(): string {
    // The bytes matched so far decide which options are left.
    return `c${this.key}:${String.fromCharCode(...this.options[0]!.subarray(0, this.pos))}`;
  }
}

type NumberPhase = 'sign' | 'zero' | 'int' | 'dot' | 'frac' | 'exp' | 'expSign' | 'expDigits';
const NUMBER_ENDS: ReadonlySet<NumberPhase> = new Set(['zero', 'int', 'frac', 'expDigits']);
/** Digits per part: JSON numbers past these are not numbers a reader wants (and not exact in a double). */
const MAX_INT_DIGITS = 15;
const MAX_FRAC_DIGITS = 15;
const MAX_EXP_DIGITS = 2;

/** A JSON number (integers: no fraction, no exponent). */
class JsonNumber implements Frame {
  constructor(
    private readonly integer: boolean,
    private readonly phase: NumberPhase,
    private readonly digits: number,
  ) {}
  static start(integer: boolean, b: number): JsonNumber | null {
    if (b === 0x2d) return new JsonNumber(integer, 'sign', 0);
    if (b === 0x30) return new JsonNumber(integer, 'zero', 1);
    if (isDigit(b)) return new JsonNumber(integer, 'int', 1);
    return null;
  }
  step(b: number): readonly Frame[] | null {
    const next = (phase: NumberPhase, digits: number) => [new JsonNumber(this.integer, phase, digits)];
    switch (this.phase) {
      case 'sign':
        if (b === 0x30) return next('zero', 1);
        return isDigit(b) ? next('int', 1) : null;
      case 'int':
      case 'zero':
        if (isDigit(b)) return this.phase === 'int' && this.digits < MAX_INT_DIGITS ? next('int', this.digits + 1) : null;
        if (this.integer) return null;
        if (b === 0x2e) return next('dot', 0);
        return b === 0x65 || b === 0x45 ? next('exp', 0) : null;
      case 'dot':
        return isDigit(b) ? next('frac', 1) : null;
      case 'frac':
        if (isDigit(b)) return this.digits < MAX_FRAC_DIGITS ? next('frac', this.digits + 1) : null;
        return b === 0x65 || b === 0x45 ? next('exp', 0) : null;
      case 'exp':
        if (b === 0x2b || b === 0x2d) return next('expSign', 0);
        return isDigit(b) ? next('expDigits', 1) : null;
      case 'expSign':
        return isDigit(b) ? next('expDigits', 1) : null;
      case 'expDigits':
        return isDigit(b) && this.digits < MAX_EXP_DIGITS ? next('expDigits', this.digits + 1) : null;
    }
  }
  get canEnd(): boolean {
    return NUMBER_ENDS.has(this.phase);
  }
  get minClose(): number {
    return this.canEnd ? 0 : 1;
  }
  get id(): string {
    return `n${this.integer ? 'i' : 'r'}${this.phase}${this.digits}`;
  }
}

/**
 * A JSON string's contents after its opening quote: `chars` characters so far (as a JSON Schema
 * validator counts them), and what the character under way still needs: `hex` digits of a \u
 * escape, 1 after a lone backslash (`escape`), or UTF-8 continuation bytes in [lo, hi].
 */
class JsonString implements Frame {
  constructor(
    private readonly min: number,
    private readonly max: number,
    private readonly chars: number,
    private readonly pending: { readonly escape?: boolean; readonly hex?: number; readonly cont?: number; readonly lo?: number; readonly hi?: number } = {},
  ) {}
  private with(chars: number, pending: JsonString['pending'] = {}): Frame[] {
    return [new JsonString(this.min, this.max, chars, pending)];
  }
  step(b: number): readonly Frame[] | null {
    const p = this.pending;
    if (p.cont) {
      if (b < p.lo! || b > p.hi!) return null;
      return p.cont === 1 ? this.with(this.chars + 1) : this.with(this.chars, { cont: p.cont - 1, lo: 0x80, hi: 0xbf });
    }
    if (p.escape) {
      if (b === 0x75) return this.with(this.chars, { hex: 4 });
      return '"\\/bfnrt'.includes(String.fromCharCode(b)) ? this.with(this.chars + 1) : null;
    }
    if (p.hex) {
      // No surrogate escapes (\uD800-\uDFFF): a lone one is not a character, and a pair counts as one.
      if (!isHex(b) || (p.hex === 4 && (b === 0x44 || b === 0x64))) return null;
      return p.hex === 1 ? this.with(this.chars + 1) : this.with(this.chars, { hex: p.hex - 1 });
    }
    if (b === QUOTE) return this.chars >= this.min ? [] : null;
    if (this.chars >= this.max || b < 0x20) return null;
    if (b === BACKSLASH) return this.with(this.chars, { escape: true });
    if (b < 0x80) return this.with(this.chars + 1);
    // UTF-8 lead bytes and the range their next byte must be in (no overlongs, no surrogates, <= U+10FFFF).
    if (b >= 0xc2 && b <= 0xdf) return this.with(this.chars, { cont: 1, lo: 0x80, hi: 0xbf });
    if (b === 0xe0) return this.with(this.chars, { cont: 2, lo: 0xa0, hi: 0xbf });
    if (b === 0xed) return this.with(this.chars, { cont: 2, lo: 0x80, hi: 0x9f });
    if (b >= 0xe1 && b <= 0xef) return this.with(this.chars, { cont: 2, lo: 0x80, hi: 0xbf });
    if (b === 0xf0) return this.with(this.chars, { cont: 3, lo: 0x90, hi: 0xbf });
    if (b >= 0xf1 && b <= 0xf3) return this.with(this.chars, { cont: 3, lo: 0x80, hi: 0xbf });
    if (b === 0xf4) return this.with(this.chars, { cont: 3, lo: 0x80, hi: 0x8f });
    return null;
  }
  get canEnd(): boolean {
    return false;
  }
  get minClose(): number {
    const p = this.pending;
    const underWay = p.cont ?? p.hex ?? (p.escape ? 1 : 0);
    const chars = this.chars + (underWay > 0 ? 1 : 0);
    return underWay + Math.max(0, this.min - chars) + 1;
  }
  get id(): string {
    const p = this.pending;
    // Without a maxLength, characters past minLength change nothing: one state for them all.
    const chars = this.max === Infinity ? Math.min(this.chars, this.min) : this.chars;
    return `s${this.min}-${this.max}:${chars}:${p.escape ? 'e' : ''}${p.hex ?? ''}:${p.cont ?? ''}${p.lo ?? ''}-${p.hi ?? ''}`;
  }
}

/** The start of a value of `shape`: its first byte decides which frame follows. */
export class Value implements Frame {
  constructor(private readonly shape: Shape) {}
  step(b: number): readonly Frame[] | null {
    const s = this.shape;
    if (s.literals) return new Choice(s.literals, 0, String(shapeId(s))).step(b);
    const t = s.types;
    switch (b) {
      case 0x7b:
        return t.has('object') ? [JsonObject.open(s)] : null;
      case 0x5b:
        return t.has('array') ? [new JsonArray(s, 'open', 0)] : null;
      case QUOTE:
        return t.has('string') ? [new JsonString(s.minLength, s.maxLength, 0)] : null;
      case 0x74:
        return t.has('boolean') ? [new Choice([TRUE], 1, 'true')] : null;
      case 0x66:
        return t.has('boolean') ? [new Choice([FALSE], 1, 'false')] : null;
      case 0x6e:
        return t.has('null') ? [new Choice([NULL], 1, 'null')] : null;
    }
    if (!t.has('number') && !t.has('integer')) return null;
    const n = JsonNumber.start(!t.has('number'), b);
    return n ? [n] : null;
  }
  get canEnd(): boolean {
    return false;
  }
  get minClose(): number {
    return this.shape.minBytes;
  }
  get id(): string {
    return `v${shapeId(this.shape)}`;
  }
}

const TRUE = utf8.encode('true');
const FALSE = utf8.encode('false');
const NULL = utf8.encode('null');

/** The frames after `b` when it starts a value of `shape` below a parent now in `after`. */
function startValue(shape: Shape, b: number, after: Frame): readonly Frame[] | null {
  const v = new Value(shape).step(b);
  return v && [after, ...v];
}

type ArrayPhase = 'open' | 'item' | 'next';

/** An array after `[` (`open`), after a comma (`item`) or after an item (`next`), `count` items in. */
class JsonArray implements Frame {
  constructor(
    private readonly shape: Shape,
    private readonly phase: ArrayPhase,
    private readonly count: number,
  ) {}
  step(b: number): readonly Frame[] | null {
    const s = this.shape;
    if (this.phase === 'next') {
      if (b === 0x5d) return this.count >= s.minItems ? [] : null;
      return b === COMMA && this.count < s.maxItems ? [new JsonArray(s, 'item', this.count)] : null;
    }
    if (this.phase === 'open' && b === 0x5d) return s.minItems === 0 ? [] : null;
    if (this.count >= s.maxItems) return null;
    return startValue(s.items, b, new JsonArray(s, 'next', this.count + 1));
  }
  get canEnd(): boolean {
    return false;
  }
  get minClose(): number {
    const s = this.shape;
    const item = s.items.minBytes;
    const more = Math.max(0, s.minItems - this.count);
    if (this.phase === 'next') return 1 + more * (1 + item);
    if (this.phase === 'item') return item + Math.max(0, more - 1) * (1 + item) + 1;
    return more === 0 ? 1 : more * item + (more - 1) + 1;
  }
  get id(): string {
    const s = this.shape;
    const count = s.maxItems === Infinity ? Math.min(this.count, s.minItems) : this.count;
    return `a${shapeId(s)}${this.phase}${count}`;
  }
}

/**
 * An object. Declared keys: `open` (after `{`), `key` (after a comma: a key must follow),
 * `inKey` (`pos` bytes into one of `candidates`' keys, quote included), `colon`, `next` (after a
 * value); `used` are the keys written. Free keys (no declared properties): the key is a string
 * frame above this one, then `colon` with `value` the shape of any value.
 */
class JsonObject implements Frame {
  private constructor(
    private readonly shape: Shape,
    private readonly phase: 'open' | 'key' | 'inKey' | 'colon' | 'next',
    private readonly used: readonly PropertyShape[],
    private readonly candidates: readonly PropertyShape[] = [],
    private readonly pos = 0,
  ) {}
  static open(shape: Shape): JsonObject {
    return new JsonObject(shape, 'open', []);
  }
  private unused(): PropertyShape[] {
    return this.shape.properties.filter((p) => !this.used.includes(p));
  }
  private get missing(): number {
    let n = 0;
    for (const p of this.shape.properties) if (p.required && !this.used.includes(p)) n++;
    return n;
  }
  step(b: number): readonly Frame[] | null {
    const s = this.shape;
    switch (this.phase) {
      case 'open':
      case 'key':
        if (b === 0x7d) return this.phase === 'open' && this.missing === 0 ? [] : null;
        if (b !== QUOTE) return null;
        if (s.freeKeys) return [new JsonObject(s, 'colon', this.used), new JsonString(0, Infinity, 0)];
        return this.inKey(this.unused(), 1);
      case 'inKey': {
        const live = this.candidates.filter((p) => p.key[this.pos] === b);
        return live.length === 0 ? null : this.inKey(live, this.pos + 1);
      }
      case 'colon': {
        if (b !== COLON) return null;
        const prop = s.freeKeys ? undefined : this.used[this.used.length - 1]!;
        return [new JsonObject(s, 'next', this.used), new Value(prop ? prop.shape : ANY_SHAPE)];
      }
      case 'next':
        if (b === 0x7d) return this.missing === 0 ? [] : null;
        if (b !== COMMA) return null;
        return s.freeKeys || this.unused().length > 0 ? [new JsonObject(s, 'key', this.used)] : null;
    }
  }
  /** After `pos` bytes of a key: the one key left once fully written, else still choosing. */
  private inKey(live: readonly PropertyShape[], pos: number): readonly Frame[] | null {
    if (live.length === 0) return null;
    const done = live.find((p) => p.key.length === pos);
    // Keys are quoted JSON strings: a complete one is no other's prefix.
    if (done) return [new JsonObject(this.shape, 'colon', [...this.used, done])];
    return [new JsonObject(this.shape, 'inKey', this.used, live, pos)];
  }
  get canEnd(): boolean {
    return false;
  }
  /** Bytes of `,"key":value` for each required key not in `used`. */
  private requiredRest(used: readonly PropertyShape[]): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (const p of this.shape.properties) {
      if (!p.required || used.includes(p)) continue;
      count++;
      bytes += p.key.length + 1 + p.shape.minBytes;
    }
    return { count, bytes };
  }
  get minClose(): number {
    const s = this.shape;
    const anyValue = ANY_SHAPE.minBytes;
    const r = this.requiredRest(this.used);
    const closeFrom = (rest: { count: number; bytes: number }) => rest.bytes + rest.count + 1; // each with its comma, then }
    switch (this.phase) {
      case 'open':
        return r.count === 0 ? 1 : r.bytes + (r.count - 1) + 1;
      case 'next':
        return closeFrom(r);
      case 'colon':
        return 1 + (s.freeKeys ? anyValue : this.used[this.used.length - 1]!.shape.minBytes) + closeFrom(r);
      case 'key': {
        if (s.freeKeys) return 2 + 1 + anyValue + 1;
        if (r.count > 0) return r.bytes + (r.count - 1) + 1;
        return Math.min(...this.unused().map((p) => p.key.length + 1 + p.shape.minBytes)) + 1;
      }
      case 'inKey':
        return Math.min(
          ...this.candidates.map((p) => {
            const rest = this.requiredRest([...this.used, p]);
            return p.key.length - this.pos + 1 + p.shape.minBytes + closeFrom(rest);
          }),
        );
    }
  }
  get id(): string {
    const used = this.used.map((p) => this.shape.properties.indexOf(p)).join(',');
    const cands = this.candidates.map((p) => this.shape.properties.indexOf(p)).join(',');
    return `o${shapeId(this.shape)}${this.phase}[${used}][${cands}]${this.pos}`;
  }
}

/** The automaton's state: the frames, innermost last. Empty: the document is complete. */
export type JsonState = readonly Frame[];

/** The state before the first byte of a document of `shape`. */
export function initialState(shape: Shape): JsonState {
  return [new Value(shape)];
}

/** The state after `b`, or null when `b` cannot come next. A value that may end here (a number) ends when `b` is its parent's. */
export function advance(state: JsonState, b: number): JsonState | null {
  for (let depth = state.length; depth > 0; depth--) {
    const top = state[depth - 1]!;
    const next = top.step(b);
    if (next) return [...state.slice(0, depth - 1), ...next];
    if (!top.canEnd) return null;
  }
  return null;
}

/** The state after every byte of `bytes`, or null. */
export function advanceBytes(state: JsonState, bytes: Uint8Array): JsonState | null {
  let s: JsonState | null = state;
  for (let i = 0; i < bytes.length && s; i++) s = advance(s, bytes[i]!);
  return s;
}

/** Whether the document may end here. */
export function isComplete(state: JsonState): boolean {
  return state.every((f) => f.canEnd);
}

/** The fewest bytes that complete the document from `state`. */
export function minCloseBytes(state: JsonState): number {
  let n = 0;
  for (const f of state) n += f.minClose;
  return n;
}

/** A key for the state, equal for equal states of the same shapes. */
export function stateId(state: JsonState): string {
  return state.map((f) => f.id).join('|');
}
