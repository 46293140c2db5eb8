/**
 * The subset of JSON Schema that guided decoding enforces, compiled to the shapes the byte
 * automaton (json-constraint.ts) walks. A keyword outside the subset is refused by name rather
 * than ignored: a schema whose rule the decoder does not enforce would let through documents
 * that fail it, and "the output always validates" is the promise.
 */

export type JsonType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

const TYPES: readonly JsonType[] = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'];

/** A property of an object shape, its key as the bytes of its JSON string (quotes included). */
export interface PropertyShape {
  readonly name: string;
  readonly key: Uint8Array;
  readonly shape: Shape;
  readonly required: boolean;
}

/** What a value may be: any of `types`, or exactly one of `literals` (enum / const). */
export interface Shape {
  readonly types: ReadonlySet<JsonType>;
  /** Compact JSON bytes of the allowed values; when set, `types` is empty. */
  readonly literals?: readonly Uint8Array[];
  /** Declared properties, in schema order: the only keys generated. */
  readonly properties: readonly PropertyShape[];
  /** No declared properties and additional ones allowed: any string keys, any values. */
  readonly freeKeys: boolean;
  /** Array items; the `any` shape when not given. Set after construction for `any` (it is its own items). */
  items: Shape;
  readonly minItems: number;
  readonly maxItems: number;
  readonly minLength: number;
  readonly maxLength: number;
  /** Bytes of the shortest document of this shape. */
  readonly minBytes: number;
}

/** A schema the subset cannot enforce, or that no document satisfies. `path` is a JSON pointer into the schema. */
export class SchemaError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${detail}${path ? ` at ${path}` : ''}`);
    this.name = 'SchemaError';
  }
}

/** Keywords with no effect on validation. */
const ANNOTATIONS = new Set(['title', 'description', '$schema', '$id', '$comment', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly']);
const ENFORCED = ['type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems', 'minLength', 'maxLength'];
const SUPPORTED = new Set([...ENFORCED, ...ANNOTATIONS]);

/** At most this many schema objects in one schema: the automaton's tables grow with it. */
export const MAX_SCHEMA_NODES = 1000;

const utf8 = new TextEncoder();
type Json = Record<string, unknown>;

function shortestDocument(s: Omit<Shape, 'minBytes'>): number {
  if (s.literals) return Math.min(...s.literals.map((l) => l.length));
  let best = Infinity;
  for (const t of s.types) {
    let n: number;
    if (t === 'number' || t === 'integer') n = 1;
    else if (t === 'boolean' || t === 'null') n = 4;
    else if (t === 'string') n = 2 + s.minLength;
    else if (t === 'array') n = 2 + (s.minItems === 0 ? 0 : s.minItems * s.items.minBytes + s.minItems - 1);
    else {
      const req = s.properties.filter((p) => p.required);
      n = 2 + req.reduce((sum, p) => sum + p.key.length + 1 + p.shape.minBytes, 0) + Math.max(0, req.length - 1);
    }
    best = Math.min(best, n);
  }
  return best;
}

function shape(s: Omit<Shape, 'minBytes'>): Shape {
  return { ...s, minBytes: shortestDocument(s) };
}

/** Any JSON value: objects with any keys, arrays of anything. */
function anyShape(): Shape {
  const s = {
    types: new Set(TYPES),
    properties: [],
    freeKeys: true,
    minItems: 0,
    maxItems: Infinity,
    minLength: 0,
    maxLength: Infinity,
    minBytes: 1,
  } as unknown as Shape;
  s.items = s;
  return s;
}

/** Any JSON value: the values of free keys, and `true` as a schema. */
export const ANY_SHAPE = anyShape();

/** Whether a JSON value is of one of `types` (as a validator sees it: 1.0 is an integer). */
function ofType(v: unknown, types: ReadonlySet<JsonType>): boolean {
  if (v === null) return types.has('null');
  if (Array.isArray(v)) return types.has('array');
  switch (typeof v) {
    case 'string':
      return types.has('string');
    case 'boolean':
      return types.has('boolean');
    case 'number':
      return types.has('number') || (types.has('integer') && Number.isInteger(v));
    case 'object':
      return types.has('object');
    default:
      return false;
  }
}

class Compiler {
  private nodes = 0;

  compile(schema: unknown, path: string): Shape {
    if (schema === true) return ANY_SHAPE;
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new SchemaError(path, 'a schema must be an object or true');
    if (++this.nodes > MAX_SCHEMA_NODES) throw new SchemaError(path, `more than ${MAX_SCHEMA_NODES} schemas in one schema`);
    const s = schema as Json;
    for (const k of Object.keys(s)) {
      if (!SUPPORTED.has(k)) throw new SchemaError(path, `"${k}" is not supported (guided decoding enforces ${ENFORCED.join(', ')})`);
    }
    const types = this.types(s['type'], path);
    const literals = this.literals(s, types, path);
    const properties = this.properties(s, path);
    const freeKeys = properties.length === 0 && s['additionalProperties'] !== false;
    const items = s['items'] === undefined ? ANY_SHAPE : this.compile(s['items'], `${path}/items`);
    const [minItems, maxItems] = this.range(s, 'minItems', 'maxItems', path);
    const [minLength, maxLength] = this.range(s, 'minLength', 'maxLength', path);
    const out = shape({ types: literals ? new Set() : types, literals, properties, freeKeys, items, minItems, maxItems, minLength, maxLength });
    if (!Number.isFinite(out.minBytes)) throw new SchemaError(path, 'no value satisfies this schema');
    return out;
  }

  private types(v: unknown, path: string): Set<JsonType> {
    if (v === undefined) return new Set(TYPES);
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0) throw new SchemaError(`${path}/type`, 'must not be an empty list');
    for (const t of list) {
      if (!TYPES.includes(t as JsonType)) throw new SchemaError(`${path}/type`, `must be one of ${TYPES.join(', ')}, got ${JSON.stringify(t)}`);
    }
    return new Set(list as JsonType[]);
  }

  private literals(s: Json, types: ReadonlySet<JsonType>, path: string): Uint8Array[] | undefined {
    let values: unknown[] | undefined;
    if ('const' in s) values = [s['const']];
    if (s['enum'] !== undefined) {
      if (!Array.isArray(s['enum']) || s['enum'].length === 0) throw new SchemaError(`${path}/enum`, 'must be a non-empty array');
      const inEnum = s['enum'];
      values = values ? values.filter((v) => inEnum.some((e) => JSON.stringify(e) === JSON.stringify(v))) : inEnum;
    }
    if (!values) return undefined;
    const typed = values.filter((v) => ofType(v, types));
    if (typed.length === 0) throw new SchemaError(path, 'no value of enum/const satisfies the rest of the schema');
    return [...new Set(typed.map((v) => JSON.stringify(v)))].map((t) => utf8.encode(t));
  }

  private properties(s: Json, path: string): PropertyShape[] {
    const props = s['properties'];
    const required = s['required'] ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) throw new SchemaError(`${path}/required`, 'must be an array of strings');
    const extra = s['additionalProperties'];
    if (extra !== undefined && typeof extra !== 'boolean') {
      throw new SchemaError(`${path}/additionalProperties`, 'must be true or false (a schema for additional properties is not supported)');
    }
    if (props === undefined) {
      if (required.length > 0) throw new SchemaError(`${path}/required`, 'names properties the schema does not declare in "properties"');
      return [];
    }
    if (typeof props !== 'object' || props === null || Array.isArray(props)) throw new SchemaError(`${path}/properties`, 'must be an object');
    for (const r of required as string[]) {
      if (!Object.hasOwn(props, r)) throw new SchemaError(`${path}/required`, `names "${r}", which "properties" does not declare`);
    }
    return Object.entries(props as Json).map(([name, sub]) => ({
      name,
      key: utf8.encode(JSON.stringify(name)),
      shape: this.compile(sub, `${path}/properties/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`),
      required: (required as string[]).includes(name),
    }));
  }

  private range(s: Json, lo: string, hi: string, path: string): [number, number] {
    const read = (k: string, fallback: number): number => {
      const v = s[k];
      if (v === undefined) return fallback;
      if (!Number.isInteger(v) || (v as number) < 0) throw new SchemaError(`${path}/${k}`, `must be an integer >= 0, got ${JSON.stringify(v)}`);
      return v as number;
    };
    const min = read(lo, 0);
    const max = read(hi, Infinity);
    if (min > max) throw new SchemaError(path, `${lo} ${min} is above ${hi} ${max}`);
    return [min, max];
  }
}

/**
 * Compiles a JSON Schema (parsed) for guided decoding.
 * @throws SchemaError naming the keyword and where it is
 */
export function compileJsonSchema(schema: unknown): Shape {
  return new Compiler().compile(schema, '');
}
