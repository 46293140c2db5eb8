import { createLogger } from '@tokenmesh/logging';

import { MAX_JSON_DEPTH } from '../../../src/api/rest/json-depth';
import { restApi } from '../../../src/api/rest/rest-api';
import { fakeFeedback, fakeRouter, listen } from '../../fakes';
import { inMemoryMesh } from '../../in-memory-mesh';

// Room for a body nested 10,000 deep (up to 60 kB), so that the depth limit, not the size, refuses it.
const BODY_LIMIT = 64 * 1024;

type Endpoint = '/v1/completions' | '/v1/chat/completions';
const BOTH: readonly Endpoint[] = ['/v1/completions', '/v1/chat/completions'];

/** A valid request for each endpoint; a case's fields replace (undefined: remove) its fields. */
const VALID: Record<Endpoint, Record<string, unknown>> = {
  '/v1/completions': { model: 'tinyllama', prompt: 'Hello', max_tokens: 4 },
  '/v1/chat/completions': { model: 'tinyllama', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 },
};

interface Case {
  readonly name: string;
  readonly on: readonly Endpoint[];
  /** Fields over the valid request, or `{raw}`: a body sent as is. */
  readonly body: Readonly<Record<string, unknown>>;
  /** OpenAI's `param`: the field the message names (null: the request as a whole). */
  readonly param: string | null;
  readonly status?: number;
  readonly code?: string;
  readonly contentType?: string;
}

const msgs = (...m: unknown[]) => ({ messages: m });

const CASES: Case[] = [
  // The body itself.
  { name: 'malformed JSON', on: BOTH, body: { raw: '{"prompt": "x", ' }, param: null },
  { name: 'a JSON array instead of an object', on: BOTH, body: { raw: '[1, 2]' }, param: null },
  { name: 'a body that is not JSON (content-type)', on: BOTH, body: { raw: 'prompt=x' }, param: null, contentType: 'application/x-www-form-urlencoded' },
  {
    name: 'a body over the size limit',
    on: BOTH,
    body: { raw: JSON.stringify({ prompt: 'x'.repeat(BODY_LIMIT + 1) }) },
    param: null,
    status: 413,
    code: 'request_too_large',
  },
  // The model.
  { name: 'an unknown model', on: BOTH, body: { model: 'gpt-9' }, param: 'model', code: 'model_not_found' },
  { name: 'model of the wrong type', on: BOTH, body: { model: 42 }, param: 'model' },
  // Sampling fields, wrong types and out of range.
  { name: 'temperature -1', on: BOTH, body: { temperature: -1 }, param: 'temperature' },
  { name: 'temperature 2.5', on: BOTH, body: { temperature: 2.5 }, param: 'temperature' },
  { name: 'temperature as a string', on: BOTH, body: { temperature: 'hot' }, param: 'temperature' },
  { name: 'top_p 2', on: BOTH, body: { top_p: 2 }, param: 'top_p' },
  { name: 'top_p 0', on: BOTH, body: { top_p: 0 }, param: 'top_p' },
  { name: 'max_tokens 0', on: BOTH, body: { max_tokens: 0 }, param: 'max_tokens' },
  { name: 'max_tokens far beyond the context', on: BOTH, body: { max_tokens: 1_000_000_000 }, param: 'max_tokens' },
  { name: 'max_tokens not an integer', on: BOTH, body: { max_tokens: 1.5 }, param: 'max_tokens' },
  { name: 'top_k -1', on: BOTH, body: { top_k: -1 }, param: 'top_k' },
  { name: 'top_k not an integer', on: BOTH, body: { top_k: 2.5 }, param: 'top_k' },
  { name: 'min_p 1.5', on: BOTH, body: { min_p: 1.5 }, param: 'min_p' },
  { name: 'repetition_penalty 0', on: BOTH, body: { repetition_penalty: 0 }, param: 'repetition_penalty' },
  { name: 'repetition_penalty as a string', on: BOTH, body: { repetition_penalty: '1.1' }, param: 'repetition_penalty' },
  { name: 'seed not an integer', on: BOTH, body: { seed: 1.5 }, param: 'seed' },
  { name: 'seed as a string', on: BOTH, body: { seed: '42' }, param: 'seed' },
  { name: 'seed negative', on: BOTH, body: { seed: -1 }, param: 'seed' },
  { name: 'seed of 2^64', on: BOTH, body: { seed: 2 ** 64 }, param: 'seed' },
  // Stop strings.
  { name: 'five stop strings', on: BOTH, body: { stop: ['a', 'b', 'c', 'd', 'e'] }, param: 'stop' },
  { name: 'an empty stop string', on: BOTH, body: { stop: '' }, param: 'stop[0]' },
  { name: 'an empty stop string in a list', on: BOTH, body: { stop: ['a', ''] }, param: 'stop[1]' },
  { name: 'stop of the wrong type', on: BOTH, body: { stop: 42 }, param: 'stop' },
  { name: 'stop list with a number', on: BOTH, body: { stop: ['a', 7] }, param: 'stop' },
  // OpenAI request options.
  { name: 'n = 17', on: BOTH, body: { n: 17 }, param: 'n' },
  { name: 'n = 0', on: BOTH, body: { n: 0 }, param: 'n' },
  { name: 'n as a string', on: BOTH, body: { n: 'one' }, param: 'n' },
  { name: 'stream not a boolean', on: BOTH, body: { stream: 'yes' }, param: 'stream' },
  { name: 'stream_options without stream', on: BOTH, body: { stream_options: { include_usage: true } }, param: 'stream_options' },
  { name: 'stream_options with stream false', on: BOTH, body: { stream: false, stream_options: { include_usage: true } }, param: 'stream_options' },
  { name: 'stream_options not an object', on: BOTH, body: { stream: true, stream_options: true }, param: 'stream_options' },
  { name: 'include_usage not a boolean', on: BOTH, body: { stream: true, stream_options: { include_usage: 'yes' } }, param: 'stream_options.include_usage' },
  { name: 'user of the wrong type', on: BOTH, body: { user: 42 }, param: 'user' },
  { name: 'presence_penalty above 2', on: BOTH, body: { presence_penalty: 2.5 }, param: 'presence_penalty' },
  { name: 'frequency_penalty below -2', on: BOTH, body: { frequency_penalty: -3 }, param: 'frequency_penalty' },
  { name: 'presence_penalty of the wrong type', on: BOTH, body: { presence_penalty: 'high' }, param: 'presence_penalty' },
  { name: 'a logit_bias over 100', on: BOTH, body: { logit_bias: { '50': 150 } }, param: 'logit_bias.50' },
  { name: 'a logit_bias key that is no token id', on: BOTH, body: { logit_bias: { fox: 1 } }, param: 'logit_bias' },
  { name: 'a logit_bias value of the wrong type', on: BOTH, body: { logit_bias: { '50': 'ban' } }, param: 'logit_bias.50' },
  { name: 'logit_bias not an object', on: BOTH, body: { logit_bias: [50] }, param: 'logit_bias' },
  // /v1/completions only.
  { name: 'a prompt array holding a number', on: ['/v1/completions'], body: { prompt: ['a', 7] }, param: 'prompt[1]' },
  { name: 'a prompt array over the limit', on: ['/v1/completions'], body: { prompt: Array.from({ length: 17 }, () => 'a') }, param: 'prompt' },
  { name: 'a token-id prompt outside the vocabulary', on: ['/v1/completions'], body: { prompt: [72, 5000] }, param: 'prompt[1]' },
  { name: 'no prompt', on: ['/v1/completions'], body: { prompt: undefined }, param: 'prompt' },
  { name: 'prompts × n over 16', on: ['/v1/completions'], body: { prompt: ['a', 'b', 'c'], n: 6 }, param: 'n' },
  { name: 'an empty prompt', on: ['/v1/completions'], body: { prompt: '' }, param: 'prompt' },
  { name: 'prompt of the wrong type', on: ['/v1/completions'], body: { prompt: 42 }, param: 'prompt' },
  { name: 'a prompt longer than the context', on: ['/v1/completions'], body: { prompt: 'x'.repeat(1000), max_tokens: undefined }, param: 'prompt' },
  { name: 'echo not a boolean', on: ['/v1/completions'], body: { echo: 'yes' }, param: 'echo' },
  { name: 'best_of 3 (unsupported)', on: ['/v1/completions'], body: { best_of: 3 }, param: 'best_of' },
  { name: 'suffix (unsupported)', on: ['/v1/completions'], body: { suffix: 'end' }, param: 'suffix' },
  // /v1/chat/completions only.
  { name: 'no messages', on: ['/v1/chat/completions'], body: { messages: undefined }, param: 'messages' },
  { name: 'empty messages', on: ['/v1/chat/completions'], body: { messages: [] }, param: 'messages' },
  { name: 'messages as a string', on: ['/v1/chat/completions'], body: { messages: 'Hello' }, param: 'messages' },
  { name: 'a message that is not an object', on: ['/v1/chat/completions'], body: msgs('Hello'), param: 'messages[0]' },
  { name: 'a message without role', on: ['/v1/chat/completions'], body: msgs({ role: 'user', content: 'a' }, { content: 'b' }), param: 'messages[1].role' },
  { name: 'a bad role', on: ['/v1/chat/completions'], body: msgs({ role: 'wizard', content: 'a' }), param: 'messages[0].role' },
  { name: 'a role of the wrong type', on: ['/v1/chat/completions'], body: msgs({ role: 1, content: 'a' }), param: 'messages[0].role' },
  { name: 'content of the wrong type', on: ['/v1/chat/completions'], body: msgs({ role: 'user', content: 42 }), param: 'messages[0].content' },
  { name: 'a message without content', on: ['/v1/chat/completions'], body: msgs({ role: 'user' }), param: 'messages[0].content' },
  {
    name: 'an image content part',
    on: ['/v1/chat/completions'],
    body: msgs({ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x' } }] }),
    param: 'messages[0].content[0]',
  },
  {
    name: 'messages longer than the context',
    on: ['/v1/chat/completions'],
    body: { ...msgs({ role: 'user', content: 'x'.repeat(1000) }), max_tokens: undefined },
    param: 'messages',
  },
  { name: 'max_completion_tokens 0', on: ['/v1/chat/completions'], body: { max_completion_tokens: 0 }, param: 'max_completion_tokens' },
  { name: 'max_completion_tokens beyond the context', on: ['/v1/chat/completions'], body: { max_completion_tokens: 100_000 }, param: 'max_completion_tokens' },
  { name: 'max_completion_tokens as a string', on: ['/v1/chat/completions'], body: { max_completion_tokens: 'ten' }, param: 'max_completion_tokens' },
  { name: 'logprobs of the wrong type', on: BOTH, body: { logprobs: 'yes' }, param: 'logprobs' },
  { name: 'completions logprobs over 20', on: ['/v1/completions'], body: { logprobs: 21 }, param: 'logprobs' },
  { name: 'completions logprobs below 0', on: ['/v1/completions'], body: { logprobs: -1 }, param: 'logprobs' },
  { name: 'top_logprobs without logprobs', on: ['/v1/chat/completions'], body: { top_logprobs: 3 }, param: 'top_logprobs' },
  { name: 'top_logprobs over 20', on: ['/v1/chat/completions'], body: { logprobs: true, top_logprobs: 21 }, param: 'top_logprobs' },
  { name: 'tools (unsupported)', on: ['/v1/chat/completions'], body: { tools: [{ type: 'function', function: { name: 'f' } }] }, param: 'tools' },
  { name: 'response_format not an object', on: BOTH, body: { response_format: 'json' }, param: 'response_format' },
  { name: 'response_format of an unknown type', on: BOTH, body: { response_format: { type: 'xml' } }, param: 'response_format.type' },
  {
    name: 'response_format json_schema without json_schema',
    on: BOTH,
    body: { response_format: { type: 'json_schema' } },
    param: 'response_format.json_schema',
  },
  {
    name: 'a response_format schema with a keyword guided decoding cannot enforce',
    on: BOTH,
    body: {
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'string', format: 'email' } } } } },
    },
    param: 'response_format.json_schema.schema',
  },
  {
    name: 'a response_format schema no value satisfies',
    on: BOTH,
    body: { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', enum: [1] } } } },
    param: 'response_format.json_schema.schema',
  },
  {
    name: 'a response_format schema of more than 1000 schemas',
    on: BOTH,
    body: {
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'x', schema: { type: 'object', properties: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`p${i}`, {}])) } },
      },
    },
    param: 'response_format.json_schema.schema',
  },
  {
    name: 'both response_format and guided_json',
    on: BOTH,
    body: { response_format: { type: 'json_object' }, guided_json: { type: 'object' } },
    param: 'response_format',
  },
  { name: 'guided_json that is not JSON', on: BOTH, body: { guided_json: '{"type":' }, param: 'guided_json' },
  { name: 'guided_json of the wrong type', on: BOTH, body: { guided_json: 42 }, param: 'guided_json' },
  {
    name: 'max_tokens below the schema’s shortest document',
    on: BOTH,
    body: { max_tokens: 3, guided_json: { type: 'string', minLength: 5 } },
    param: 'max_tokens',
  },
];

const ROWS = CASES.flatMap((c) => c.on.map((path) => [`${path}: ${c.name}`, path, c] as const));

describe('bad input to the OpenAI endpoints', () => {
  let http: Awaited<ReturnType<typeof listen>>;
  let base: string;
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;

  beforeAll(async () => {
    mesh = await inMemoryMesh();
    http = await listen(restApi({ upstreams: mesh.upstreams, feedback: fakeFeedback(), bodyLimitBytes: BODY_LIMIT }));
    base = http.base;
  });
  afterAll(async () => {
    await http.close();
    await mesh.close();
  });

  it('has a table of at least 25 cases, each valid request it starts from is accepted', async () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
    for (const path of BOTH) {
      const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(VALID[path]) });
      expect(res.status).toBe(200);
    }
  });

  it.each(ROWS)('%s → 4xx in OpenAI shape naming the field, no worker call', async (_, path, c) => {
    const body = typeof c.body['raw'] === 'string' ? (c.body['raw'] as string) : JSON.stringify({ ...VALID[path], ...c.body });
    const before = mesh.workerCalls();
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': c.contentType ?? 'application/json' }, body });
    const text = await res.text();
    expect({ status: res.status, text }).toMatchObject({ status: c.status ?? 400 });
    const { error } = JSON.parse(text) as { error: { message: string; type: string; param: string | null; code: string } };
    expect(error.type).toBe('invalid_request_error');
    expect(error.param).toBe(c.param);
    if (c.param) expect(error.message.startsWith(`${c.param}: `)).toBe(true);
    if (c.code) expect(error.code).toBe(c.code);
    expect(mesh.workerCalls()).toBe(before);
  });

  it.each([
    ['/tokenize', { model: 'tinyllama' }, 'prompt'],
    ['/tokenize', { prompt: 'a', messages: [{ role: 'user', content: 'b' }] }, 'prompt'],
    ['/tokenize', { prompt: 42 }, 'prompt'],
    ['/tokenize', { prompt: '' }, 'prompt'],
    ['/tokenize', { prompt: 'a', model: 'gpt-9' }, 'model'],
    ['/tokenize', { messages: [{ role: 'wizard', content: 'b' }] }, 'messages[0].role'],
    ['/tokenize', { prompt: 'a', add_generation_prompt: 'yes' }, 'add_generation_prompt'],
    ['/detokenize', {}, 'tokens'],
    ['/detokenize', { tokens: 'abc' }, 'tokens'],
    ['/detokenize', { tokens: [1, -1] }, 'tokens[1]'],
    ['/detokenize', { tokens: [1.5] }, 'tokens[0]'],
    ['/detokenize', { tokens: [1, 2, 99999] }, 'tokens[2]'],
    ['/detokenize', { tokens: [1], model: 'gpt-9' }, 'model'],
  ])('%s %j → 400 naming %s', async (path, body, param) => {
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { message: string; param: string | null } };
    expect(error.param).toBe(param);
    expect(error.message.startsWith(`${param}: `)).toBe(true);
  });

  describe('the body as bytes and as JSON structure', () => {
    /** Every route that reads a JSON body, with a valid body for it. */
    const ROUTES: Record<string, Record<string, unknown>> = {
      ...VALID,
      '/generate': { prompt: 'Hello', max_tokens: 2 },
      '/tokenize': { prompt: 'Hello' },
      '/detokenize': { tokens: [72, 105] },
      '/feedback': { request_id: 'r1', rating: 1 },
    };
    const PATHS = Object.keys(ROUTES);
    const DEEP = 10_000;
    const send = (path: string, body: string | Buffer, contentType = 'application/json') =>
      fetch(base + path, { method: 'POST', headers: { 'content-type': contentType }, body });
    const refusal = async (res: Response) => ({
      status: res.status,
      error: ((await res.json()) as { error: { message: string; type: string; code: string } }).error,
    });

    it.each(PATHS)('%s: arrays and objects nested 10,000 deep → 400 naming the depth and the limit, no worker call', async (path) => {
      const before = mesh.workerCalls();
      const nested = {
        arrays: '['.repeat(DEEP) + ']'.repeat(DEEP),
        objects: '{"a":'.repeat(DEEP - 1) + '{}' + '}'.repeat(DEEP - 1),
      };
      for (const [kind, value] of Object.entries(nested)) {
        // In a field the route reads, and in one it ignores.
        for (const field of ['prompt', 'extra']) {
          const { status, error } = await refusal(await send(path, `{"${field}": ${value}}`));
          expect({ kind, field, status, type: error.type }).toEqual({ kind, field, status: 400, type: 'invalid_request_error' });
          expect(error.message).toBe(`body nests arrays and objects ${DEEP + 1} levels deep; the limit is ${MAX_JSON_DEPTH}`);
        }
      }
      expect(mesh.workerCalls()).toBe(before);
    });

    it('nesting up to the limit is read as before, and brackets inside strings are text', async () => {
      // MAX_JSON_DEPTH levels with the body's own object.
      const deepest = '{"x":'.repeat(MAX_JSON_DEPTH - 2) + '{}' + '}'.repeat(MAX_JSON_DEPTH - 2);
      const { status, error } = await refusal(await send('/detokenize', `{"tokens": ${deepest}}`));
      // Past the depth check: refused by the field's own rule.
      expect({ status, message: error.message }).toEqual({ status: 400, message: expect.stringMatching(/^tokens: /) });
      const res = await send('/tokenize', JSON.stringify({ prompt: '[{'.repeat(200) + '"\\' }));
      expect(res.status).toBe(200);
    });

    it.each(PATHS)('%s: a charset other than UTF-8 → 415 naming it; UTF-8 under any of its names is read', async (path) => {
      const body = JSON.stringify(ROUTES[path]);
      for (const charset of ['latin1', 'utf-16', 'ISO-8859-1']) {
        const { status, error } = await refusal(await send(path, body, `application/json; charset=${charset}`));
        expect({ charset, status, code: error.code }).toEqual({ charset, status: 415, code: 'unsupported_media_type' });
        expect(error.message).toContain(JSON.stringify(charset.toLowerCase()));
      }
      for (const charset of ['utf-8', 'UTF-8', 'utf8', '"utf-8"']) {
        const res = await send(path, body, `application/json; charset=${charset}`);
        expect({ charset, status: res.status }).toEqual({ charset, status: 200 });
      }
    });

    it.each(PATHS)('%s: invalid UTF-8 → 400, not decoded with replacement characters', async (path) => {
      const before = mesh.workerCalls();
      // A latin1 "é" (0xe9) and a lone continuation byte.
      for (const bad of [[0xe9], [0x80]]) {
        const body = Buffer.concat([Buffer.from('{"prompt": "caf'), Buffer.from(bad), Buffer.from('"}')]);
        const { status, error } = await refusal(await send(path, body));
        expect({ status, message: error.message }).toEqual({ status: 400, message: 'body is not valid UTF-8' });
      }
      expect(mesh.workerCalls()).toBe(before);
    });
  });
});

describe('a REST request that fails unexpectedly', () => {
  it('is answered 500 `internal error` and logged at error level with the error; a bad request is not', async () => {
    const mesh = await inMemoryMesh();
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ service: 'gateway', level: 'debug', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    // A router that breaks in a way no rule answers.
    const router = fakeRouter(() => {
      throw new TypeError('router bug');
    });
    const http = await listen(restApi({ upstreams: { ...mesh.upstreams, router }, feedback: fakeFeedback(), bodyLimitBytes: BODY_LIMIT, logger }));
    try {
      const post = (path: string, body: unknown) =>
        fetch(http.base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'r-500' }, body: JSON.stringify(body) });
      const res = await post('/generate', { prompt: 'Hello', max_tokens: 2 });
      expect(res.status).toBe(500);
      expect(await res.json()).toMatchObject({ error: { message: 'internal error', type: 'server_error' } });
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'error',
          msg: 'REST request failed',
          method: 'POST',
          path: '/generate',
          request_id: 'r-500',
          // What the router's answer said (Connect does not pass a server's own message on), and where.
          error: expect.objectContaining({ name: 'ConnectError', message: '[internal] internal error', stack: expect.any(String) }),
        }),
      ]);
      expect((await post('/generate', { prompt: '' })).status).toBe(400);
      expect(lines).toHaveLength(1);
    } finally {
      await http.close();
      await mesh.close();
    }
  });
});
