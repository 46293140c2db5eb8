import { createClient, createRouterTransport } from '@connectrpc/connect';
import { loadReference } from '@tokenmesh/model';
import { FeedbackService } from '@tokenmesh/proto';

import { restApi } from '../../../src/api/rest/rest-api';
import { listen } from '../../fakes';
import { inMemoryMesh, TINYLLAMA } from '../../in-memory-mesh';

describe('gateway REST API over HTTP/1.1', () => {
  let http: Awaited<ReturnType<typeof listen>>;
  let base: string;
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;

  beforeAll(async () => {
    mesh = await inMemoryMesh();
    // Feedback has its own service tests; here it only has to be reachable.
    const feedback = createClient(
      FeedbackService,
      createRouterTransport((r) => r.service(FeedbackService, { submitFeedback: (req) => ({ feedbackId: `fb-${req.requestId}` }) })),
    );
    http = await listen(restApi({ upstreams: mesh.upstreams, feedback, bodyLimitBytes: 4096 }));
    base = http.base;
  });
  afterAll(async () => {
    await http.close();
    await mesh.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('GET /v1/models lists what the router says the pool serves, by name and by version', async () => {
    const res = await fetch(`${base}/v1/models`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      object: 'list',
      data: [
        { id: 'tinyllama', object: 'model', created: 0, owned_by: 'tokenmesh', context_length: 512, workers: 1 },
        { id: 'tinyllama@1', object: 'model', created: 0, owned_by: 'tokenmesh', context_length: 512, workers: 1 },
      ],
    });
  });

  it('GET /v1/models/{model} answers the entry the list has under that id; an unknown id is 404 model_not_found', async () => {
    const { data } = (await (await fetch(`${base}/v1/models`)).json()) as { data: { id: string }[] };
    for (const listed of data) {
      const res = await fetch(`${base}/v1/models/${encodeURIComponent(listed.id)}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(listed);
    }
    // As typed by hand: `@` unescaped.
    expect(((await (await fetch(`${base}/v1/models/tinyllama@1`)).json()) as { id: string }).id).toBe('tinyllama@1');
    for (const unknown of ['nope', 'tinyllama@7', 'tinyllama%2F1', '%E0%A4%A']) {
      const res = await fetch(`${base}/v1/models/${unknown}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        error: { message: expect.stringContaining('does not exist') as unknown, type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
      });
    }
    expect((await fetch(`${base}/v1/models/tinyllama`, { method: 'POST' })).status).toBe(405);
  });

  it('POST /generate returns text, usage, model, request_id and timings', async () => {
    const c = (await loadReference(TINYLLAMA)).cases[0]!;
    const res = await post('/generate', { prompt: c.prompts[0], max_tokens: 32, temperature: 0 }, { 'x-request-id': 'req-1' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      text: Buffer.from(c.greedy_ids[0]!).toString('utf8'),
      finish_reason: 'length',
      model: 'tinyllama@1',
      request_id: 'req-1',
      usage: { prompt_tokens: 28, completion_tokens: 32, total_tokens: 60 },
    });
    expect((body['timings'] as { total_ms: number }).total_ms).toBeGreaterThan(0);
  });

  it('POST /v1/completions answers in OpenAI shape, and streams SSE chunks ending with [DONE]', async () => {
    const plain = (await (await post('/v1/completions', { model: 'tinyllama', prompt: 'Hello', max_tokens: 8, temperature: 0 })).json()) as {
      object: string;
      choices: { text: string; finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    expect(plain.object).toBe('text_completion');
    expect(plain.choices[0]!.finish_reason).toBe('length');
    expect(plain.usage.completion_tokens).toBe(8);

    const res = await post('/v1/completions', { model: 'tinyllama', prompt: 'Hello', max_tokens: 8, temperature: 0, stream: true });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = (await res.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')) as { choices: { text: string; finish_reason: string | null }[] });
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.map((c) => c.choices[0]!.text).join('')).toBe(plain.choices[0]!.text);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
  });

  it.each([
    ['malformed JSON', '/generate', '{"prompt": ', null],
    ['empty prompt', '/generate', { prompt: '' }, 'prompt'],
    ['prompt of the wrong type', '/generate', { prompt: 42 }, 'prompt'],
    ['max_tokens 0', '/generate', { prompt: 'x', max_tokens: 0 }, 'max_tokens'],
    ['max_tokens beyond the context', '/generate', { prompt: 'x', max_tokens: 100000 }, 'max_tokens'],
    ['max_tokens not an integer', '/generate', { prompt: 'x', max_tokens: 'ten' }, 'max_tokens'],
    ['negative temperature', '/generate', { prompt: 'x', temperature: -0.5 }, 'temperature'],
    ['top_p 0', '/generate', { prompt: 'x', top_p: 0 }, 'top_p'],
    ['top_p above 1', '/generate', { prompt: 'x', top_p: 1.2 }, 'top_p'],
    ['negative top_k', '/generate', { prompt: 'x', top_k: -3 }, 'top_k'],
    ['unknown model', '/generate', { prompt: 'x', model: 'gpt-9' }, 'model'],
    ['five stop strings', '/v1/completions', { prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    ['n = 17', '/v1/completions', { prompt: 'x', n: 17 }, 'n'],
    ['a token id outside the vocabulary', '/v1/completions', { prompt: [1, 4000, 3] }, 'prompt[1]'],
    ['a negative token id', '/v1/completions', { prompt: [1, -2] }, 'prompt[1]'],
    [
      'a token id past uint32',
      '/v1/completions',
      {
        prompt: [
          [1, 2],
          [3, 5e9],
        ],
      },
      'prompt[1][1]',
    ],
    ['an empty token array', '/v1/completions', { prompt: [[1, 2], []] }, 'prompt[1]'],
    ['a token array with a string', '/v1/completions', { prompt: [[1, 2], 'a'] }, 'prompt[1]'],
    ['echo with token prompts', '/v1/completions', { prompt: [72, 105], echo: true }, 'echo'],
    ['a prompt array with a token array', '/v1/completions', { prompt: ['a', [1, 2]] }, 'prompt[1]'],
    ['an empty prompt array', '/v1/completions', { prompt: [] }, 'prompt'],
    ['17 prompts', '/v1/completions', { prompt: Array.from({ length: 17 }, () => 'x') }, 'prompt'],
    ['an empty prompt in an array', '/v1/completions', { prompt: ['a', ''] }, 'prompt'],
  ])('%s → 400 with an OpenAI error body naming the field, no worker call', async (_, path, body, param) => {
    const before = mesh.workerCalls();
    const res = await post(path, body);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string } };
    expect(error.type).toBe('invalid_request_error');
    expect(error.param).toBe(param);
    if (param) expect(error.message.startsWith(`${param}: `)).toBe(true);
    expect(mesh.workerCalls()).toBe(before);
  });

  it('an oversized body → 413 request_too_large, no worker call', async () => {
    const before = mesh.workerCalls();
    const res = await post('/generate', { prompt: 'x'.repeat(5000) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'request_too_large' } });
    expect(mesh.workerCalls()).toBe(before);
  });

  it('POST /feedback forwards to the feedback service; 405 and 404 in OpenAI shape', async () => {
    expect(await (await post('/feedback', { request_id: 'r9', rating: 1 })).json()).toEqual({ feedback_id: 'fb-r9' });
    expect((await post('/feedback', { request_id: 'r9', rating: 3 })).status).toBe(400);
    const wrongMethod = await fetch(`${base}/generate`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(await (await fetch(`${base}/nope`)).json()).toMatchObject({ error: { code: 'not_found' } });
  });
});
