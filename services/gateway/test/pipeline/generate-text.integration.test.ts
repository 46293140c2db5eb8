import { Code, ConnectError } from '@connectrpc/connect';
import type { ModelRepo } from '@tokenmesh/inference';
import { loadReference } from '@tokenmesh/model';
import { FinishReason } from '@tokenmesh/proto';

import { restError } from '../../src/edge/api-error';
import { generateText, type TextEvent, type TextRequest, type Upstreams } from '../../src/pipeline/generate-text';
import { inMemoryMesh, TINYLLAMA as MODEL } from '../in-memory-mesh';

describe('generateText through tokenizer, router and inference', () => {
  let repo: ModelRepo;
  let up: Upstreams;
  let workerCalls: () => number;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ upstreams: up, repo, workerCalls, close } = await inMemoryMesh());
  });
  afterAll(() => close());

  const request = (over: Partial<TextRequest>): TextRequest => ({ requestId: 'r', model: '', prompt: '', messages: [], sampling: {}, routingKey: '', ...over });
  async function run(req: TextRequest): Promise<{ text: string; deltas: number; done: Extract<TextEvent, { type: 'done' }> }> {
    let text = '';
    let deltas = 0;
    let done: Extract<TextEvent, { type: 'done' }> | undefined;
    for await (const e of generateText(req, up, new AbortController().signal)) {
      if (e.type === 'text') ((text += e.text), deltas++);
      else done = e;
    }
    return { text, deltas, done: done! };
  }

  it('greedy text is the decoded reference, streamed in several deltas, with usage', async () => {
    const c = (await loadReference(MODEL)).cases[0]!;
    const r = await run(request({ prompt: c.prompts[0]!, sampling: { temperature: 0, maxTokens: 32 } }));
    expect(r.text).toBe(Buffer.from(c.greedy_ids[0]!).toString('utf8'));
    expect(r.deltas).toBeGreaterThan(5);
    expect(r.done).toMatchObject({
      finishReason: FinishReason.LENGTH,
      model: 'tinyllama@1',
      usage: { promptTokens: 28, completionTokens: 32, totalTokens: 60 },
    });
  });

  it('a stop string ends the text before it and cancels the worker', async () => {
    const c = (await loadReference(MODEL)).cases[0]!;
    const full = Buffer.from(c.greedy_ids[0]!).toString('utf8');
    const stop = full.slice(10, 13);
    const r = await run(request({ prompt: c.prompts[0]!, sampling: { temperature: 0, maxTokens: 32, stop: [stop] } }));
    expect(r.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(r.done.finishReason).toBe(FinishReason.STOP);
    await new Promise((res) => setTimeout(res, 20));
    expect(repo.models[0]!.engine.running).toBe(0);
  });

  it.each([
    [{ prompt: '' }, Code.InvalidArgument, 'prompt', 'prompt: must not be empty'],
    [{ prompt: 'x', model: 'gpt9' }, Code.NotFound, 'model', 'model: "gpt9" has no tokenizer here'],
    [{ prompt: 'x', sampling: { maxTokens: 0 } }, Code.InvalidArgument, 'max_tokens', 'sampling.max_tokens: must be an integer >= 1'],
    [{ prompt: 'x', sampling: { maxTokens: 10_000 } }, Code.InvalidArgument, 'max_tokens', 'must be at most 511'],
    [{ prompt: 'x', sampling: { temperature: NaN } }, Code.InvalidArgument, 'temperature', 'must be a finite number'],
    [{ prompt: 'x', sampling: { temperature: -1 } }, Code.InvalidArgument, 'temperature', 'must be in [0, 2]'],
    [{ prompt: 'x', sampling: { topP: 1.5 } }, Code.InvalidArgument, 'top_p', 'must be in (0, 1]'],
    [{ prompt: 'x', sampling: { topK: -1 } }, Code.InvalidArgument, 'top_k', 'must be an integer >= 0'],
    [{ prompt: 'x', sampling: { stop: ['a', 'b', 'c', 'd', 'e'] } }, Code.InvalidArgument, 'stop', 'sampling.stop: at most 4 strings, got 5'],
    [{ messages: [{ role: 'bard', content: 'x' }] }, Code.InvalidArgument, 'messages[0].role', 'must be one of'],
  ])('rejects %j before any worker call', async (over, code, param, message) => {
    const before = workerCalls();
    const err = await run(request(over as Partial<TextRequest>)).then(
      () => undefined,
      (e: unknown) => e as ConnectError,
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect(err!.code).toBe(code);
    expect(restError(err!).param).toBe(param);
    expect(err!.rawMessage).toContain(message);
    expect(workerCalls()).toBe(before);
  });
});
