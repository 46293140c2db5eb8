import fc from 'fast-check';

import { anyJson, anyString, bodyValue, jsonText, type JsonTree, nearlyValid, SEED } from './arbitraries';
import { fuzzGateway } from './fuzz-gateway';

/** Every REST route that reads a JSON body, with a valid body for it (short generations). */
const VALID: Record<string, JsonTree> = {
  '/generate': { prompt: 'Hello', max_tokens: 2 },
  '/v1/completions': { model: 'tinyllama', prompt: 'Hello', max_tokens: 2 },
  '/v1/chat/completions': { model: 'tinyllama', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 2 },
  '/tokenize': { prompt: 'Hello' },
  '/detokenize': { tokens: [72, 105] },
  '/feedback': { request_id: 'r1', rating: 1 },
};
const PATHS = Object.keys(VALID);

/** Runs per property: six routes × five properties, well under a second each. */
const RUNS = 200;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a 200 from each route must look like (non-streaming). */
const WELL_FORMED: Record<string, (b: Obj) => boolean> = {
  '/generate': (b) => typeof b['text'] === 'string' && isObj(b['usage']) && typeof b['request_id'] === 'string' && typeof b['finish_reason'] === 'string',
  '/v1/completions': (b) => b['object'] === 'text_completion' && Array.isArray(b['choices']) && isObj(b['usage']),
  '/v1/chat/completions': (b) =>
    b['object'] === 'chat.completion' && Array.isArray(b['choices']) && isObj((b['choices'] as Obj[])[0]?.['message']) && isObj(b['usage']),
  '/tokenize': (b) => Array.isArray(b['tokens']) && (b['tokens'] as unknown[]).every(Number.isInteger) && b['count'] === (b['tokens'] as unknown[]).length,
  '/detokenize': (b) => typeof b['prompt'] === 'string',
  '/feedback': (b) => typeof b['feedback_id'] === 'string',
};

/** An event stream: JSON chunks with choices and no error, then `[DONE]`. */
function wellFormedStream(text: string): boolean {
  const data = text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6));
  if (data.at(-1) !== '[DONE]') return false;
  return data.slice(0, -1).every((d) => {
    const chunk = JSON.parse(d) as Obj;
    return typeof chunk['object'] === 'string' && Array.isArray(chunk['choices']) && chunk['error'] === undefined;
  });
}

/**
 * The property every answer holds: never 5xx; a 4xx is OpenAI's error shape whose message names
 * its field (`param: …`) or the body; a 200 is the route's answer. Throws what it got otherwise.
 */
async function checkAnswer(path: string, res: Response, seen?: Map<number, number>): Promise<void> {
  const text = await res.text();
  seen?.set(res.status, (seen.get(res.status) ?? 0) + 1);
  const got = () => `${res.status} ${text.slice(0, 300)}`;
  if (res.status >= 500 || res.status < 200) throw new Error(`server error: ${got()}`);
  if (res.status === 200) {
    const ok = (res.headers.get('content-type') ?? '').startsWith('text/event-stream') ? wellFormedStream(text) : WELL_FORMED[path]!(JSON.parse(text) as Obj);
    if (!ok) throw new Error(`malformed answer: ${got()}`);
    return;
  }
  if (res.status < 400) throw new Error(`unexpected status: ${got()}`);
  const body = JSON.parse(text) as { error?: Obj };
  const e = body.error;
  const shaped =
    isObj(e) &&
    typeof e['message'] === 'string' &&
    e['message'] !== '' &&
    typeof e['type'] === 'string' &&
    (e['param'] === null || typeof e['param'] === 'string') &&
    (e['code'] === null || typeof e['code'] === 'string');
  if (!shaped) throw new Error(`error not in OpenAI's shape: ${got()}`);
  if (res.status === 400 && e['type'] !== 'invalid_request_error') throw new Error(`400 of type ${String(e['type'])}`);
  const param = e['param'] as string | null;
  const message = e['message'] as string;
  const names = param === null ? /\bbody\b/.test(message) : message.startsWith(`${param}: `);
  if (!names) throw new Error(`message names neither its field nor the body: ${got()}`);
}

describe('fuzzing every REST body (fast-check)', () => {
  let gw: Awaited<ReturnType<typeof fuzzGateway>>;
  beforeAll(async () => {
    gw = await fuzzGateway();
    fc.configureGlobal({ seed: SEED, numRuns: RUNS, endOnFailure: true });
  });
  afterAll(async () => {
    fc.resetConfigureGlobal();
    await gw?.close();
  });
  afterEach(async () => {
    // Still serving, and nothing answered went unexpected (a 500 is logged at error level).
    const res = await fetch(`${gw.httpUrl}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: jsonText(VALID['/generate']!) });
    expect(res.status).toBe(200);
    expect(gw.problems.filter((p) => p['level'] === 'error')).toEqual([]);
  });

  const post = (path: string, body: string | Buffer) => fetch(gw.httpUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it.each(PATHS)('%s: its valid body is answered 200 and well formed (what the properties mutate)', async (path) => {
    const res = await post(path, jsonText(VALID[path]!));
    expect(res.status).toBe(200);
    await checkAnswer(path, res);
  });

  it.each(PATHS)('%s: any JSON value as the body (deep, huge numbers, lone surrogates) → never 5xx, errors name their field', async (path) => {
    await fc.assert(fc.asyncProperty(bodyValue, async (v) => checkAnswer(path, await post(path, jsonText(v)))));
  });

  it.each(PATHS)('%s: an object of arbitrary fields → never 5xx, errors name their field', async (path) => {
    const known = Object.keys(VALID).flatMap((p) => Object.keys(VALID[p] as Obj));
    const fields = fc.dictionary(fc.oneof(fc.constantFrom(...known), anyString), bodyValue, { maxKeys: 5 });
    await fc.assert(fc.asyncProperty(fields, async (v) => checkAnswer(path, await post(path, jsonText(v)))));
  });

  it.each(PATHS)('%s: a valid body with one field replaced, removed or added → never 5xx, errors name their field', async (path) => {
    const seen = new Map<number, number>();
    await fc.assert(fc.asyncProperty(nearlyValid(VALID[path]!), async (v) => checkAnswer(path, await post(path, jsonText(v)), seen)));
    // Both sides were fuzzed: bodies the route accepted and bodies it refused.
    expect({ accepted: (seen.get(200) ?? 0) > 0, refused: (seen.get(400) ?? 0) > 0, runs: [...seen.values()].reduce((a, b) => a + b) }).toEqual({
      accepted: true,
      refused: true,
      runs: RUNS,
    });
  });

  it.each(PATHS)('%s: arbitrary bytes, valid JSON with a byte changed, cut-off JSON → never 5xx', async (path) => {
    const valid = Buffer.from(jsonText(VALID[path]!));
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
        const b = Buffer.from(valid);
        b[at] = byte;
        return b;
      }),
      anyJson.map((v) => Buffer.from(jsonText(v).slice(0, -1))),
    );
    await fc.assert(fc.asyncProperty(bytes, async (b) => checkAnswer(path, await post(path, b))));
  });
});
