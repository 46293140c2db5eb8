import { type Client, Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { loadReference } from '@tokenmesh/model';
import { FinishReason, InferenceService } from '@tokenmesh/proto';

import { inferenceService } from '../../../src/api/grpc/inference-api';
import { inMemoryMesh, TINYLLAMA } from '../../in-memory-mesh';

describe('gateway InferenceService handlers', () => {
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let client: Client<typeof InferenceService>;
  beforeAll(async () => {
    mesh = await inMemoryMesh();
    client = createClient(
      InferenceService,
      createRouterTransport((r) => r.service(InferenceService, inferenceService(mesh.upstreams))),
    );
  });
  afterAll(() => mesh.close());

  it('Predict returns the whole text; StreamPredict the same text in deltas, then the finish message', async () => {
    const c = (await loadReference(TINYLLAMA)).cases[1]!;
    const want = Buffer.from(c.greedy_ids[0]!).toString('utf8');
    const one = await client.predict({ prompt: c.prompts[0]!, sampling: { temperature: 0, maxTokens: 32 }, requestId: 'p1' });
    expect(one).toMatchObject({ text: want, finishReason: FinishReason.LENGTH, model: 'tinyllama@1', requestId: 'p1', usage: { completionTokens: 32 } });
    const parts: string[] = [];
    let last;
    for await (const m of client.streamPredict({ prompt: c.prompts[0]!, sampling: { temperature: 0, maxTokens: 32 } })) {
      if (m.text) parts.push(m.text);
      last = m;
    }
    expect(parts.join('')).toBe(want);
    expect(parts.length).toBeGreaterThan(5);
    expect(last!.finishReason).toBe(FinishReason.LENGTH);
  });

  it('sampling.logprobs: one log-probability per completion token, the same in Predict and over the stream; none unless asked', async () => {
    const sampling = { temperature: 0, maxTokens: 12, logprobs: true };
    const one = await client.predict({ prompt: 'In the beginning', sampling });
    expect(one.logprobs).toHaveLength(one.usage!.completionTokens);
    expect(one.logprobs.every((l) => Number.isFinite(l) && l <= 0)).toBe(true);
    const streamed: number[] = [];
    for await (const m of client.streamPredict({ prompt: 'In the beginning', sampling })) streamed.push(...m.logprobs);
    expect(streamed).toEqual(one.logprobs);
    // A stop string ends the text early: the tokens counted, and their log-probabilities, end there too.
    const stop = one.text.slice(3, 5);
    const cut = await client.predict({ prompt: 'In the beginning', sampling: { ...sampling, stop: [stop] } });
    expect(cut.logprobs).toHaveLength(cut.usage!.completionTokens);
    expect(cut.logprobs).toEqual(one.logprobs.slice(0, cut.logprobs.length));
    expect((await client.predict({ prompt: 'In the beginning', sampling: { temperature: 0, maxTokens: 4 } })).logprobs).toEqual([]);
  });

  it('sampling.top_logprobs: the likeliest tokens per position, likeliest first; greedy picks the first', async () => {
    const sampling = { temperature: 0, maxTokens: 10, logprobs: true, topLogprobs: 3 };
    const one = await client.predict({ prompt: 'In the beginning', sampling });
    expect(one.topLogprobs).toHaveLength(one.logprobs.length);
    one.topLogprobs.forEach((top, i) => {
      expect(top.tokenIds).toHaveLength(3);
      expect([...top.logprobs].sort((a, b) => b - a)).toEqual(top.logprobs);
      // Greedy: the token chosen is the likeliest one.
      expect(top.logprobs[0]).toBeCloseTo(one.logprobs[i]!, 5);
    });
    const streamed: number[][] = [];
    for await (const m of client.streamPredict({ prompt: 'In the beginning', sampling })) streamed.push(...m.topLogprobs.map((t) => t.tokenIds));
    expect(streamed).toEqual(one.topLogprobs.map((t) => t.tokenIds));
    expect((await client.predict({ prompt: 'In the beginning', sampling: { ...sampling, topLogprobs: 0 } })).topLogprobs).toEqual([]);
  });

  it('sampling.guided_json: Predict and StreamPredict give the same document of the schema', async () => {
    const schema = {
      type: 'object',
      properties: { word: { type: 'string', maxLength: 6 }, n: { type: 'integer' } },
      required: ['word', 'n'],
      additionalProperties: false,
    };
    const sampling = { temperature: 0.9, seed: 4n, maxTokens: 40, guidedJson: JSON.stringify(schema) };
    const one = await client.predict({ prompt: 'In the beginning', sampling });
    const doc = JSON.parse(one.text) as Record<string, unknown>;
    expect(Object.keys(doc).sort()).toEqual(['n', 'word']);
    expect(typeof doc['word'] === 'string' && (doc['word'] as string).length <= 6 && Number.isInteger(doc['n'])).toBe(true);
    let streamed = '';
    for await (const m of client.streamPredict({ prompt: 'In the beginning', sampling })) streamed += m.text;
    expect(streamed).toBe(one.text);
  });

  it('prompt_token_ids: a prompt already encoded answers as its text; an id outside the vocabulary names its place', async () => {
    const sampling = { temperature: 0, maxTokens: 8 };
    const text = await client.predict({ prompt: 'In the beginning', sampling });
    const ids = await client.predict({ promptTokenIds: [...Buffer.from('In the beginning')], sampling });
    expect(ids.text).toBe(text.text);
    const err = await client.predict({ promptTokenIds: [73, 9999], sampling }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringContaining('prompt_token_ids[1]: 9999 is outside the vocabulary') });
    const both = await client.predict({ prompt: 'x', promptTokenIds: [73], sampling }).catch((e: unknown) => ConnectError.from(e));
    expect(both).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringContaining('prompt_token_ids: give either') });
  });

  it('chat messages go through the chat template', async () => {
    const r = await client.predict({ messages: [{ role: 'user', content: 'Hi' }], sampling: { maxTokens: 4, temperature: 0 } });
    expect(r.usage!.promptTokens).toBe(Buffer.byteLength('<|user|>\nHi\n<|assistant|>\n'));
  });

  it('ListModels shows the pool', async () => {
    expect((await client.listModels({})).models).toMatchObject([{ name: 'tinyllama', versions: ['1'], contextLength: 512, workers: 1 }]);
  });

  it.each([
    [{ prompt: '' }, Code.InvalidArgument, 'prompt: must not be empty'],
    [{ prompt: 'x', model: 'nope' }, Code.NotFound, 'model: "nope"'],
    [{ prompt: 'x', sampling: { maxTokens: 0 } }, Code.InvalidArgument, 'sampling.max_tokens:'],
    [{ prompt: 'x', sampling: { temperature: NaN } }, Code.InvalidArgument, 'sampling.temperature: must be a finite number'],
    [{ prompt: 'x', sampling: { topP: 0 } }, Code.InvalidArgument, 'sampling.top_p:'],
    [{ prompt: 'x', sampling: { topK: -1 } }, Code.InvalidArgument, 'sampling.top_k:'],
    [{ prompt: 'x', sampling: { topLogprobs: 3 } }, Code.InvalidArgument, 'sampling.top_logprobs: needs logprobs: true'],
    [{ prompt: 'x', sampling: { topLogprobs: 21, logprobs: true } }, Code.InvalidArgument, 'sampling.top_logprobs: must be an integer in [0, 20], got 21'],
    [
      { prompt: 'x', sampling: { guidedJson: '{"type": "string", "pattern": "a"}' } },
      Code.InvalidArgument,
      'sampling.guided_json: unsupported schema: "pattern" is not supported',
    ],
    [
      { prompt: 'x', sampling: { guidedJson: '{"type": "object"}', maxTokens: 1 } },
      Code.InvalidArgument,
      'sampling.max_tokens: must be at least 2 with guided_json',
    ],
  ])('rejects %j with its code, naming the field, before any worker call', async (req, code, message) => {
    const before = mesh.workerCalls();
    const err = await client.predict(req).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(code);
    expect(err?.rawMessage).toContain(message);
    expect(mesh.workerCalls()).toBe(before);
  });
});
