import { join } from 'node:path';

import Ajv from 'ajv';
import fc from 'fast-check';

import { JsonGuide, loadTokenBytes, parseJsonSchema, SchemaError, type TokenBytes } from '../src';

const ROOT = join(__dirname, '../../..');
const ajv = new Ajv({ strict: false });
const EOS = 256;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A schema of every enforced keyword (what an OpenAI structured-output call sends). */
const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 12 },
    age: { type: 'integer' },
    height: { type: 'number' },
    tags: { type: 'array', items: { type: 'string', maxLength: 4 }, minItems: 1, maxItems: 3 },
    role: { enum: ['admin', 'user', 10, null] },
    active: { type: 'boolean' },
    nick: { type: ['string', 'null'] },
    address: { type: 'object', properties: { city: { const: 'Paris' }, zip: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
  required: ['name', 'age', 'tags', 'address'],
  additionalProperties: false,
};
const SCHEMAS: Record<string, unknown> = {
  'json_object (any object)': { type: 'object' },
  person: PERSON,
  'array of numbers': { type: 'array', items: { type: 'number' }, minItems: 2 },
  'bare number': { type: 'number' },
  'enum with prefixes': { enum: [1, 10, 100, 'a', 'ab'] },
  'any value': {},
};

/** Generates one document by a seeded random walk over the byte vocabulary, as a sampler would with random logits. */
function walk(guide: JsonGuide, tokens: TokenBytes, budget: number, rnd: () => number): { text: string; eos: boolean } {
  const c = guide.start();
  const bytes: number[] = [];
  for (let left = budget; left > 0; left--) {
    const logits = new Float32Array(tokens.length);
    c.mask(logits, left);
    const allowed = [...logits.keys()].filter((t) => logits[t] !== -Infinity);
    expect(allowed.length).toBeGreaterThan(0);
    const t = allowed[Math.floor(rnd() * allowed.length)]!;
    if (t === EOS) return { text: decoder.decode(Uint8Array.from(bytes)), eos: true };
    bytes.push(...tokens[t]!);
    c.accept(t);
  }
  return { text: decoder.decode(Uint8Array.from(bytes)), eos: false };
}

describe('guided JSON decoding', () => {
  let tokens: TokenBytes;
  beforeAll(async () => {
    tokens = await loadTokenBytes(join(ROOT, 'models/tinygpt'));
  });

  it("reads tinygpt's byte-level vocabulary: one byte per token, end-of-text none", () => {
    expect(tokens).toHaveLength(257);
    expect(tokens[EOS]).toBeNull();
    expect(new Set(tokens.slice(0, 256).map((b) => b![0])).size).toBe(256);
  });

  it.each(Object.entries(SCHEMAS))('every walk of %s parses and validates, within any budget that fits', (_, schema) => {
    const shape = parseJsonSchema(JSON.stringify(schema));
    const guide = new JsonGuide(shape, tokens, [EOS]);
    const validate = ajv.compile(schema as object);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: shape.minBytes, max: shape.minBytes + 80 }), (seed, budget) => {
        let s = seed;
        const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
        const { text } = walk(guide, tokens, budget, rnd);
        const doc: unknown = JSON.parse(text);
        if (!validate(doc)) throw new Error(`${text}: ${ajv.errorsText(validate.errors)}`);
        expect(Buffer.byteLength(text)).toBeLessThanOrEqual(budget);
      }),
      { numRuns: 150 },
    );
  });

  it('the shortest budget gets the shortest document', () => {
    const shape = parseJsonSchema(JSON.stringify(PERSON));
    const { text } = walk(new JsonGuide(shape, tokens, [EOS]), tokens, shape.minBytes, Math.random);
    expect(ajv.validate(PERSON, JSON.parse(text))).toBe(true);
    expect(Buffer.byteLength(text)).toBe(shape.minBytes);
    expect(Object.keys(JSON.parse(text) as object).sort()).toEqual(['address', 'age', 'name', 'tags']);
  });

  it('ends with end-of-text as soon as the document is complete, and not before', () => {
    const guide = new JsonGuide(parseJsonSchema('{"type":"object"}'), tokens, [EOS]);
    const c = guide.start();
    const allowedAfter = (text: string) => {
      for (const b of Buffer.from(text)) c.accept(b);
      const logits = new Float32Array(257);
      c.mask(logits, 100);
      return logits;
    };
    expect(allowedAfter('{')[EOS]).toBe(-Infinity);
    const done = allowedAfter('}');
    expect(done[EOS]).toBe(0);
    expect([...done].filter((v) => v === 0)).toHaveLength(1);
  });

  it.each([
    ['a keyword it does not enforce', { type: 'string', pattern: '^a' }, /"pattern" is not supported/],
    [
      'one deeper down, with its place',
      { type: 'object', properties: { a: { type: 'integer', minimum: 3 } } },
      /"minimum" is not supported.* at \/properties\/a/,
    ],
    ['$ref', { $ref: '#/$defs/x' }, /"\$ref" is not supported/],
    ['an unknown type', { type: 'date' }, /must be one of object, array/],
    ['required without the property', { type: 'object', properties: {}, required: ['a'] }, /names "a", which "properties" does not declare/],
    ['an additionalProperties schema', { type: 'object', additionalProperties: { type: 'string' } }, /must be true or false/],
    ['minItems above maxItems', { type: 'array', minItems: 3, maxItems: 2 }, /minItems 3 is above maxItems 2/],
    ['an enum no value of its type', { type: 'string', enum: [1, 2] }, /no value of enum\/const satisfies/],
    ['not an object', ['a'], /a schema must be an object/],
  ])('refuses %s', (_, schema, message) => {
    expect(() => parseJsonSchema(JSON.stringify(schema))).toThrow(SchemaError);
    expect(() => parseJsonSchema(JSON.stringify(schema))).toThrow(message);
  });

  it('refuses a schema of more than 1000 schemas', () => {
    const properties = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`p${i}`, { type: 'string' }]));
    expect(() => parseJsonSchema(JSON.stringify({ type: 'object', properties }))).toThrow(/more than 1000 schemas/);
  });
});
