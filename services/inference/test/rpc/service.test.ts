import { resolve } from 'node:path';

import { type Client, Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { loadReference } from '@tokenmesh/model';
import { FinishReason, GenerationService } from '@tokenmesh/proto';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';
import { generationService } from '../../src/rpc/service';

const MODELS = resolve(__dirname, '../../../../models');
// Longer than the default (20 ms): a loaded machine can spread calls sent 4 ms apart past it.
const CHOICE_WAIT_MS = 250;

describe('GenerationService handlers (in-memory transport)', () => {
  let repo: ModelRepo;
  let client: Client<typeof GenerationService>;

  beforeAll(async () => {
    repo = await ModelRepo.load([parseModelEntry(resolve(MODELS, 'tinyllama')), parseModelEntry(`tinyllama@2=${resolve(MODELS, 'tinyllama')}`)], {
      intraOpThreads: 1,
      executionProviders: ['cpu'],
    });
    const transport = createRouterTransport((router) => router.service(GenerationService, generationService(repo, 'w1', { choiceWaitMs: CHOICE_WAIT_MS })));
    client = createClient(GenerationService, transport);
  });
  afterAll(() => repo.close());

  it('streams the reference tokens one per message, then finish reason, usage and timings', async () => {
    const c = (await loadReference(resolve(MODELS, 'tinyllama'))).cases[0]!;
    const tokens: number[] = [];
    let last;
    for await (const m of client.generate({ model: 'tinyllama@1', promptTokenIds: c.input_ids[0]!, sampling: { temperature: 0, maxTokens: 32 } })) {
      tokens.push(...m.tokenIds);
      last = m;
      expect(m.model).toBe('tinyllama@1');
      expect(m.workerId).toBe('w1');
    }
    expect(tokens).toEqual(c.greedy_ids[0]);
    expect(last!.finishReason).toBe(FinishReason.LENGTH);
    expect(last!.usage).toMatchObject({ promptTokens: 28, completionTokens: 32, totalTokens: 60 });
    expect(last!.timings!.totalMs).toBeGreaterThan(0);
  });

  it('resolves a bare name to the newest loaded version', async () => {
    for await (const m of client.generate({ model: 'tinyllama', promptTokenIds: [65], sampling: { maxTokens: 1 } })) expect(m.model).toBe('tinyllama@2');
  });

  it.each([
    [{ model: 'nope', promptTokenIds: [65] }, Code.NotFound, 'model: "nope" is not served here (served: tinyllama@1, tinyllama@2)'],
    [{ model: 'tinyllama', promptTokenIds: [] }, Code.InvalidArgument, 'prompt_token_ids: must not be empty'],
    [{ model: 'tinyllama', promptTokenIds: [65, 999] }, Code.InvalidArgument, 'prompt_token_ids[1]: 999 is outside the vocabulary (0..256)'],
    [{ model: 'tinyllama', promptTokenIds: [65], sampling: { maxTokens: 0 } }, Code.InvalidArgument, 'sampling.max_tokens: must be an integer >= 1, got 0'],
    [{ model: 'tinyllama', promptTokenIds: [65], sampling: { maxTokens: 600 } }, Code.InvalidArgument, 'sampling.max_tokens: must be at most 511'],
    [{ model: 'tinyllama', promptTokenIds: [65], sampling: { temperature: -1 } }, Code.InvalidArgument, 'sampling.temperature: must be in [0, 2], got -1'],
    [{ model: 'tinyllama', promptTokenIds: [65], sampling: { topP: 0 } }, Code.InvalidArgument, 'sampling.top_p: must be in (0, 1], got 0'],
    [{ model: 'tinyllama', promptTokenIds: [65], sampling: { topK: -2 } }, Code.InvalidArgument, 'sampling.top_k: must be an integer >= 0, got -2'],
  ])('rejects %j with a code and a message naming the field', async (req, code, message) => {
    let err: ConnectError | undefined;
    try {
      for await (const _ of client.generate(req)) void _;
    } catch (e) {
      err = ConnectError.from(e);
    }
    expect(err?.code).toBe(code);
    expect(err?.rawMessage).toContain(message);
    expect(repo.models.every((m) => m.engine.running === 0)).toBe(true);
  });

  it('a cancelled call frees its sequence', async () => {
    const abort = new AbortController();
    let n = 0;
    await expect(
      (async () => {
        for await (const _ of client.generate(
          { model: 'tinyllama', promptTokenIds: [65], sampling: { maxTokens: 400, temperature: 0 } },
          { signal: abort.signal },
        )) {
          if (++n === 2) abort.abort();
        }
      })(),
    ).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 20));
    expect(repo.models.every((m) => m.engine.running === 0)).toBe(true);
  });
  it('a choice group arriving over several milliseconds is prefilled in one pass; without the group, not', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const prefillsOf = async (group: string) => {
      const prefills: [number, number][] = [];
      const offs = repo.models[0]!.runners.map((r) => r.onStep((st) => void (st.prefillBatch > 0 && prefills.push([st.prefillBatch, st.prefillRows]))));
      try {
        const calls: Promise<void>[] = [];
        for (let j = 0; j < 4; j++) {
          const req = {
            model: 'tinyllama@1',
            promptTokenIds: [72, 105, 33],
            sampling: { maxTokens: 3, seed: BigInt(j) },
            choiceGroup: group,
            choiceGroupSize: group ? 4 : 0,
          };
          calls.push(
            (async () => {
              for await (const _ of client.generate(req)) void _;
            })(),
          );
          // Each call a few milliseconds after the last: across steps of the worker.
          await sleep(4);
        }
        await Promise.all(calls);
      } finally {
        offs.forEach((off) => off());
      }
      return prefills;
    };
    expect(await prefillsOf('req-1/0')).toEqual([[4, 1]]);
    expect((await prefillsOf('')).length).toBeGreaterThan(1);
  });
});
