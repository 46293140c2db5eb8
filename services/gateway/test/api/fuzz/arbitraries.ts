import fc from 'fast-check';

/**
 * Inputs for fuzzing the gateway's bodies and messages. JSON bodies are built as text, not with
 * JSON.stringify, so they can carry what a JS value cannot: number literals past float range
 * (`1e400`), integers past 2^53, `-0`.
 */

/** Fixed, so a CI failure replays here (fast-check prints seed and path); FUZZ_SEED=<n> explores others. */
export const SEED = Number(process.env.FUZZ_SEED ?? 12_012);

/** A number literal JSON.parse takes exactly as written. */
class RawNumber {
  constructor(readonly text: string) {}
}

/** What the body serializer reads: JSON values, with number literals kept as text. */
export type JsonTree = null | boolean | number | string | RawNumber | JsonTree[] | { [key: string]: JsonTree };

/** Strings a client may send: any UTF-16 code units (lone surrogates too), graphemes, number-like and JSON-like text. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', minLength: 200, maxLength: 2000 }),
  fc.constantFrom(
    '',
    ' ',
    'NaN',
    '-NaN',
    'Infinity',
    '-Infinity',
    '-1',
    '1e309',
    '0x10',
    '9007199254740993',
    'null',
    'true',
    '[]',
    '{}',
    '\u0000',
    '\ud800',
    '\udfff',
  ),
);

/** Numbers at the edges: negative, fractional, past int32 / int64 / 2^53, subnormal, past float range. */
const anyNumber: fc.Arbitrary<number | RawNumber> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1, 2, 4, 0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e308, -1e308, 5e-324),
  fc
    .constantFrom('1e400', '-1e400', '-0', '1E+2', '123456789012345678901234567890', '-9223372036854775809', '0.0000000000000000000001')
    .map((t) => new RawNumber(t)),
);

/** Any JSON value, a few levels deep. */
export const anyJson: fc.Arbitrary<JsonTree> = fc.letrec<{ value: JsonTree }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false),
    anyNumber,
    anyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A value wrapped in arrays and objects up to 100 deep: past the gateway's depth limit as often as not. */
const deepJson: fc.Arbitrary<JsonTree> = fc
  .tuple(anyJson, fc.array(fc.oneof(fc.constant(null), anyString), { maxLength: 100 }))
  .map(([inner, wraps]) => wraps.reduce<JsonTree>((v, key) => (key === null ? [v] : { [key]: v }), inner));

/** A body value: mostly shallow, sometimes deep. */
export const bodyValue: fc.Arbitrary<JsonTree> = fc.oneof({ weight: 4, arbitrary: anyJson }, { weight: 1, arbitrary: deepJson });

/** JSON text of a tree. */
export function jsonText(v: JsonTree): string {
  if (v instanceof RawNumber) return v.text;
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

type Path = readonly (string | number)[];

/** `tree` with the value at `path` replaced (undefined: removed); missing parents are created. */
function setAt(tree: JsonTree, path: Path, value: JsonTree | undefined): JsonTree {
  if (path.length === 0) return value ?? null;
  const [head, ...rest] = path;
  const base: Record<string, JsonTree> | JsonTree[] =
    typeof head === 'number' ? (Array.isArray(tree) ? [...tree] : []) : tree !== null && typeof tree === 'object' && !Array.isArray(tree) ? { ...tree } : {};
  const child = (base as Record<string | number, JsonTree>)[head!] ?? null;
  if (rest.length === 0 && value === undefined) {
    if (Array.isArray(base)) base.splice(head as number, 1);
    else delete (base as Record<string, JsonTree>)[head as string];
  } else (base as Record<string | number, JsonTree>)[head!] = setAt(child, rest, value);
  return base as JsonTree;
}

/** Fields some route reads: each is tried with arbitrary values on every route. */
const KNOWN_FIELDS = [
  'model',
  'prompt',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'min_p',
  'repetition_penalty',
  'stop',
  'stop_token_ids',
  'seed',
  'n',
  'stream',
  'stream_options',
  'user',
  'logprobs',
  'top_logprobs',
  'echo',
  'routing_key',
  'add_generation_prompt',
  'tokens',
  'request_id',
  'rating',
  'comment',
  'variant',
  'labels',
];

/**
 * A valid body with one change: a field (its own, another route's, or one level inside a
 * message) replaced by an arbitrary value or removed, or an unknown field added.
 */
export function nearlyValid(valid: JsonTree): fc.Arbitrary<JsonTree> {
  const own = Object.keys(valid as Record<string, JsonTree>);
  const inner: Path[] = [
    ['messages', 0],
    ['messages', 0, 'role'],
    ['messages', 0, 'content'],
    ['messages', 1],
    ['stop', 0],
    ['tokens', 0],
    ['stream_options', 'include_usage'],
    ['labels', 'k'],
  ];
  const path: fc.Arbitrary<Path> = fc.oneof(
    fc.constantFrom(...own).map((k) => [k]),
    fc.constantFrom(...KNOWN_FIELDS).map((k) => [k]),
    fc.constantFrom(...inner),
    anyString.map((k) => [k]),
  );
  return fc.tuple(path, fc.option(bodyValue, { freq: 8, nil: undefined })).map(([p, v]) => setAt(valid, p, v));
}
