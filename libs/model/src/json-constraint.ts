import { advance, advanceBytes, initialState, isComplete, type JsonState, minCloseBytes, stateId } from './json-automaton';
import { compileJsonSchema, type Shape } from './json-schema-shape';
import type { TokenBytes } from './token-bytes';

/** Automaton states whose per-token table a guide keeps; past it the tables start over. */
const MAX_CACHED_STATES = 20_000;

/**
 * One schema against one vocabulary: per automaton state, the fewest bytes that finish the
 * document after each token (or -1: the token cannot come next). Shared by every sequence with
 * that schema, so a state's table is computed once however many rows are in it.
 */
export class JsonGuide {
  private readonly tables = new Map<string, Int32Array>();
  /** Tokens whose tables were computed (cache misses), for the benchmark. */
  misses = 0;

  constructor(
    readonly shape: Shape,
    private readonly tokens: TokenBytes,
    readonly eosTokenIds: readonly number[],
  ) {}

  /** The fewest bytes that finish the document after each token from `state`, or -1. */
  closes(state: JsonState): Int32Array {
    const id = stateId(state);
    let table = this.tables.get(id);
    if (table) return table;
    this.misses++;
    table = new Int32Array(this.tokens.length).fill(-1);
    for (let t = 0; t < this.tokens.length; t++) {
      const bytes = this.tokens[t];
      if (!bytes || bytes.length === 0) continue;
      const next = bytes.length === 1 ? advance(state, bytes[0]!) : advanceBytes(state, bytes);
      if (next) table[t] = minCloseBytes(next);
    }
    if (this.tables.size >= MAX_CACHED_STATES) this.tables.clear();
    this.tables.set(id, table);
    return table;
  }

  /** A sequence's constraint, at the start of its document. */
  start(): JsonConstraint {
    return new JsonConstraint(this, initialState(this.shape));
  }

  advance(state: JsonState, token: number): JsonState | null {
    const bytes = this.tokens[token];
    return bytes ? advanceBytes(state, bytes) : null;
  }
}

/**
 * One sequence's place in its JSON document. Each step masks what cannot come next: a token
 * that breaks the grammar, one after which the document cannot be finished in the tokens left,
 * and end-of-text until the document is complete. Every token is at least one byte, so "the
 * fewest bytes to finish" never exceeds the tokens that finish it.
 */
export class JsonConstraint {
  constructor(
    private readonly guide: JsonGuide,
    private state: JsonState,
  ) {}

  /** Whether the document is complete (end-of-text may come). */
  get complete(): boolean {
    return isComplete(this.state);
  }

  /**
   * Sets the logits of tokens that may not come next to -Infinity, `left` tokens left this one
   * included. If nothing may (a budget too small from the start), only end-of-text stays.
   */
  mask(logits: Float32Array, left: number): void {
    const closes = this.guide.closes(this.state);
    const eos = this.guide.eosTokenIds;
    const complete = isComplete(this.state);
    let allowed = 0;
    for (let t = 0; t < logits.length; t++) {
      const c = t < closes.length ? closes[t]! : -1;
      if (c >= 0 && c <= left - 1) allowed++;
      else if (!(complete && eos.includes(t))) logits[t] = -Infinity;
    }
    if (allowed === 0 && !complete) for (const t of eos) if (t < logits.length) logits[t] = 0;
  }

  /** Moves past a sampled token (end-of-text leaves the state as it is). */
  accept(token: number): void {
    if (this.guide.eosTokenIds.includes(token)) return;
    const next = this.guide.advance(this.state, token);
    // A token the mask let through always advances; anything else leaves the document as it was.
    if (next) this.state = next;
  }
}

/** Compiled schemas by text: the gateway, the serving thread and the worker each check one request's schema. */
const compiled = new Map<string, Shape>();
const MAX_COMPILED = 64;

/** Parses and compiles guided_json's text. @throws SchemaError, or SyntaxError for text that is not JSON */
export function parseJsonSchema(text: string): Shape {
  let shape = compiled.get(text);
  if (shape) return shape;
  shape = compileJsonSchema(JSON.parse(text));
  if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  compiled.set(text, shape);
  return shape;
}
