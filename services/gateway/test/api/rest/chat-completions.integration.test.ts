import { FinishReason } from '@tokenmesh/proto';

import { restApi } from '../../../src/api/rest/rest-api';
import type { CacheKeyParts, Caller, RateLimiter, ResponseCache } from '../../../src/edge/edge-policy';
import type { TextEvent } from '../../../src/pipeline/generate-text';
import { fakeFeedback, listen } from '../../fakes';
import { inMemoryMesh } from '../../in-memory-mesh';

/** Response bodies, read loosely: the assertions check their shape. */
type Json = Record<string, any>;

/** Parses an SSE body: the JSON events and whether it ended with `data: [DONE]`. */
function sse(text: string): { events: Json[]; done: boolean } {
  const lines = text.split('\n\n').filter(Boolean);
  const done = lines.at(-1) === 'data: [DONE]';
  return { events: lines.slice(0, done ? -1 : undefined).map((l) => JSON.parse(l.replace(/^data: /, '')) as Json), done };
}

describe('POST /v1/chat/completions, /tokenize and /detokenize over HTTP/1.1', () => {
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  const servers: Awaited<ReturnType<typeof listen>>[] = [];
  let base: string;

  let upstreams: typeof mesh.upstreams;
  const feedback = fakeFeedback();
  /** A server running restApi over the current mesh, its upstreams changed by `edge`. */
  async function serve(edge: (u: typeof upstreams) => typeof upstreams = (u) => u): Promise<string> {
    const http = await listen(restApi({ upstreams: edge(upstreams), feedback, bodyLimitBytes: 64 * 1024 }));
    servers.push(http);
    return http.base;
  }

  beforeAll(async () => {
    mesh = await inMemoryMesh();
    upstreams = mesh.upstreams;
    base = await serve();
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await mesh.close();
  });

  const post = (path: string, body: unknown, at = base) =>
    fetch(at + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const MESSAGES = [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: 'What is a mesh?' },
  ];
  const tokenize = async (body: unknown) => (await (await post('/tokenize', body)).json()) as { tokens: number[]; count: number; max_model_len: number };

  it('answers a chat.completion: the assistant message, finish_reason, usage from the chat template', async () => {
    const res = await post('/v1/chat/completions', { model: 'tinyllama', messages: MESSAGES, max_tokens: 6, temperature: 0 });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tokenmesh-cache')).toBe('miss');
    const body = (await res.json()) as Json;
    const { count } = await tokenize({ messages: MESSAGES });
    expect(body).toEqual({
      id: `chatcmpl-${res.headers.get('x-request-id')}`,
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'tinyllama@1',
      choices: [{ index: 0, message: { role: 'assistant', content: expect.any(String) }, logprobs: null, finish_reason: 'length' }],
      usage: { prompt_tokens: count, completion_tokens: 6, total_tokens: count + 6 },
    });
    expect(Math.abs(body['created'] - Date.now() / 1000)).toBeLessThan(60);
  });

  it('streams chat.completion.chunks: role first, content deltas, a finish chunk, [DONE]; usage only with include_usage', async () => {
    const plain = (await (await post('/v1/chat/completions', { messages: MESSAGES, max_tokens: 6, temperature: 0 })).json()) as Json;

    const res = await post('/v1/chat/completions', { messages: MESSAGES, max_tokens: 6, temperature: 0, stream: true });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const { events, done } = sse(await res.text());
    expect(done).toBe(true);
    expect(events.every((e) => e['object'] === 'chat.completion.chunk' && !('usage' in e) && e['choices'].length === 1)).toBe(true);
    expect(events[0]!['choices'][0]).toEqual({ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
    const middle = events.slice(1, -1).map((e) => e['choices'][0]);
    expect(middle.every((c) => c.finish_reason === null && Object.keys(c.delta).join() === 'content')).toBe(true);
    expect(middle.map((c) => c.delta.content).join('')).toBe(plain['choices'][0].message.content);
    expect(events.at(-1)!['choices'][0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: 'length' });

    const withUsage = sse(
      await (
        await post('/v1/chat/completions', { messages: MESSAGES, max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true } })
      ).text(),
    );
    expect(withUsage.done).toBe(true);
    const last = withUsage.events.at(-1)!;
    expect(last['choices']).toEqual([]);
    expect(last['usage']).toEqual(plain['usage']);
    expect(withUsage.events.slice(0, -1).every((e) => e['usage'] === null)).toBe(true);
  });

  it('max_completion_tokens wins over max_tokens; no model means the default model', async () => {
    const body = (await (await post('/v1/chat/completions', { messages: MESSAGES, max_tokens: 9, max_completion_tokens: 3, temperature: 0 })).json()) as Json;
    expect(body['model']).toBe('tinyllama@1');
    expect(body['usage'].completion_tokens).toBe(3);
  });

  it('text content parts read as their joined text; a developer message is a system message', async () => {
    const asString = (await (
      await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'one\ntwo' }], max_tokens: 5, temperature: 0 })
    ).json()) as Json;
    const asParts = (await (
      await post('/v1/chat/completions', {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'one' },
              { type: 'text', text: 'two' },
            ],
          },
        ],
        max_tokens: 5,
        temperature: 0,
      })
    ).json()) as Json;
    expect(asParts['usage']).toEqual(asString['usage']);
    expect(asParts['choices'][0].message.content).toBe(asString['choices'][0].message.content);

    const developer = [{ role: 'developer', content: 'Answer briefly.' }, MESSAGES[1]];
    expect((await tokenize({ messages: developer })).tokens).toEqual((await tokenize({ messages: MESSAGES })).tokens);
  });

  it('/tokenize counts a prompt or a chat as the completions do; /detokenize turns the ids back into the text', async () => {
    const t = await tokenize({ model: 'tinyllama', prompt: 'Hello, mesh!' });
    expect(t.count).toBe(t.tokens.length);
    expect(t.count).toBeGreaterThan(0);
    expect(t.max_model_len).toBe(512);
    const completion = (await (await post('/v1/completions', { prompt: 'Hello, mesh!', max_tokens: 2, temperature: 0 })).json()) as Json;
    expect(completion['usage'].prompt_tokens).toBe(t.count);

    const chat = await tokenize({ model: 'tinyllama@1', messages: MESSAGES });
    const noOpener = await tokenize({ messages: MESSAGES, add_generation_prompt: false });
    expect(noOpener.count).toBeLessThan(chat.count);
    expect(chat.tokens.slice(0, noOpener.count)).toEqual(noOpener.tokens);

    const back = await post('/detokenize', { model: 'tinyllama', tokens: t.tokens });
    expect(back.status).toBe(200);
    expect(await back.json()).toEqual({ prompt: 'Hello, mesh!' });
    expect(await (await post('/detokenize', { tokens: [] })).json()).toEqual({ prompt: '' });
  });

  it('GET on the new routes is a 405 naming POST', async () => {
    for (const path of ['/v1/chat/completions', '/tokenize', '/detokenize']) {
      const res = await fetch(base + path);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('hands the edge its caller and the cache outcome: a cache hit answers without a worker, header hit', async () => {
    const callers: Caller[] = [];
    const keys: CacheKeyParts[] = [];
    const limiter: RateLimiter = {
      admitRequest: async (c) => void callers.push(c),
      admitTokens: async () => undefined,
      charge: () => undefined,
    };
    const cache: ResponseCache = {
      async *through(key, _generate, onOutcome): AsyncIterable<TextEvent> {
        keys.push(key);
        onOutcome('hit');
        yield { type: 'text', text: 'from the cache' };
        yield {
          type: 'done',
          finishReason: FinishReason.STOP,
          usage: { promptTokens: key.promptTokenIds.length, completionTokens: 3, totalTokens: key.promptTokenIds.length + 3 },
          timings: { queueMs: 0, timeToFirstTokenMs: 0, decodeMs: 0, totalMs: 0 },
          model: 'tinyllama@1',
          variant: '',
        };
      },
    };
    const edge = await serve((u) => ({ ...u, limiter, cache }));
    const before = mesh.workerCalls();
    const chat = await post('/v1/chat/completions', { messages: MESSAGES, temperature: 0, user: 'carol' }, edge);
    expect(chat.headers.get('x-tokenmesh-cache')).toBe('hit');
    expect(((await chat.json()) as Json)['choices'][0]).toMatchObject({ message: { content: 'from the cache' }, finish_reason: 'stop' });
    const streamed = await post('/v1/completions', { prompt: 'Hi', seed: 5, stream: true }, edge);
    expect(streamed.headers.get('x-tokenmesh-cache')).toBe('hit');
    expect(
      sse(await streamed.text())
        .events.map((e) => e['choices'][0].text)
        .join(''),
    ).toBe('from the cache');
    expect(mesh.workerCalls()).toBe(before);
    expect(callers.map((c) => c.keyName)).toEqual(['anonymous', 'anonymous']);
    expect(callers[0]!.subject).toMatch(/^ip:.*127\.0\.0\.1$/);
    expect(keys[0]!.routingKey).toBe('carol');
  });
});
