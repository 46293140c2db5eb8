import { resolve } from 'node:path';

import { loadReference, type SamplingInput, validateSampling } from '@tokenmesh/model';

import { Engine, type GenerationEvent } from '../../src/engine/engine';
import { ModelRunner } from '../../src/engine/model-runner';

const MODELS = resolve(__dirname, '../../../../models');

async function collect(events: AsyncIterable<GenerationEvent>): Promise<{ tokens: number[]; finish: GenerationEvent }> {
  const tokens: number[] = [];
  let finish: GenerationEvent | undefined;
  for await (const e of events) {
    if (e.type === 'token') tokens.push(e.tokenId);
    else finish = e;
  }
  return { tokens, finish: finish! };
}

describe.each(['tinygpt', 'tinyllama'])('Engine on %s in a worker thread', (name) => {
  let runner: ModelRunner;
  let engine: Engine;
  const sampling = (input: SamplingInput, promptTokens: number) =>
    validateSampling(input, { promptTokens, contextLength: runner.spec.contextLength, vocabSize: runner.spec.vocabSize });

  beforeAll(async () => {
    runner = await ModelRunner.start(resolve(MODELS, name), { intraOpThreads: 1, executionProviders: ['cpu'] });
    engine = new Engine(runner);
  });
  afterAll(() => runner.close());

  it('greedy generation equals the PyTorch reference, one request and several at once', async () => {
    const ref = await loadReference(resolve(MODELS, name));
    const singles = ref.cases.filter((c) => c.prompts.length === 1);
    const runs = singles.map((c, i) =>
      collect(engine.generate({ id: `r${i}`, promptIds: c.input_ids[0]!, sampling: sampling({ temperature: 0, maxTokens: 32 }, c.input_ids[0]!.length) })),
    );
    const results = await Promise.all(runs);
    results.forEach((r, i) => {
      expect(r.tokens).toEqual(singles[i]!.greedy_ids[0]);
      expect(r.finish).toMatchObject({ type: 'finish', reason: 'length', completionTokens: 32, promptTokens: singles[i]!.input_ids[0]!.length });
    });
  });

  it('a seeded request gives the same tokens alone and beside another', async () => {
    const prompt = [72, 101, 108, 108, 111];
    const s = sampling({ temperature: 0.9, seed: 1234, maxTokens: 20 }, prompt.length);
    const alone = await collect(engine.generate({ id: 'alone', promptIds: prompt, sampling: s }));
    const [together] = await Promise.all([
      collect(engine.generate({ id: 'together', promptIds: prompt, sampling: s })),
      collect(engine.generate({ id: 'other', promptIds: [65, 66], sampling: sampling({ temperature: 1, maxTokens: 25 }, 2) })),
    ]);
    expect(together!.tokens).toEqual(alone.tokens);
  });

  it('stops on a stop token id, and cancellation ends the stream with reason cancelled', async () => {
    const ref = await loadReference(resolve(MODELS, name));
    const c = ref.cases[0]!;
    const stopAt = c.greedy_ids[0]![5]!;
    const stopped = await collect(
      engine.generate({ id: 'stop', promptIds: c.input_ids[0]!, sampling: sampling({ temperature: 0, maxTokens: 32, stopTokenIds: [stopAt] }, 28) }),
    );
    expect(stopped.finish).toMatchObject({ reason: 'stop' });
    expect(stopped.tokens).toEqual(c.greedy_ids[0]!.slice(0, c.greedy_ids[0]!.indexOf(stopAt)));

    const abort = new AbortController();
    const events = engine.generate({ id: 'cancel', promptIds: [65], sampling: sampling({ temperature: 0, maxTokens: 500 }, 1), signal: abort.signal });
    const seen: GenerationEvent[] = [];
    for await (const e of events) {
      seen.push(e);
      if (seen.length === 3) abort.abort();
    }
    expect(seen.at(-1)).toMatchObject({ type: 'finish', reason: 'cancelled' });
    expect(seen.length).toBeLessThan(10);
    expect(engine.running).toBe(0);
  });
});
