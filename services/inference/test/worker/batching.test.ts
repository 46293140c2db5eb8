import { resolve } from 'node:path';

import { loadReference, validateSampling } from '@tokenmesh/model';

import { Engine, type GenerationEvent } from '../../src/engine/engine';
import { ModelRunner } from '../../src/engine/model-runner';

const MODELS = resolve(__dirname, '../../../../models');
// tinygpt is trained: any prompt has a well-separated greedy path. tinyllama has random weights:
// only its reference prompts are known to be free of near-ties.
const TINYGPT_PROMPTS = [
  'In the beginning God created',
  'A hacker is a person who',
  'And the LORD said unto Moses,',
  'The Jargon File',
  'foo',
  'And it came to pass, when the',
  'kludge: n.',
  'Blessed are',
];

async function tokens(events: AsyncIterable<GenerationEvent>, onToken?: (n: number) => void): Promise<number[]> {
  const out: number[] = [];
  for await (const e of events) {
    if (e.type === 'token') {
      out.push(e.tokenId);
      onToken?.(out.length);
    }
  }
  return out;
}

// tinygpt decodes with its decode-step export (SlotCache) unless told not to; tinyllama has none (BatchCache).
describe.each([
  ['tinygpt', 'decode-step export', true],
  ['tinygpt', 'Optimum export', false],
  ['tinyllama', 'Optimum export', true],
])('continuous batching in the worker (%s, %s)', (name, _path, decodeExport) => {
  let runner: ModelRunner;
  let engine: Engine;
  let PROMPTS: string[];
  beforeAll(async () => {
    runner = await ModelRunner.start(resolve(MODELS, name), { intraOpThreads: 1, executionProviders: ['cpu'], decodeExport });
    engine = new Engine(runner);
    PROMPTS = name === 'tinygpt' ? TINYGPT_PROMPTS : (await loadReference(resolve(MODELS, name))).cases.flatMap((c) => c.prompts);
  });
  afterAll(() => runner.close());

  const request = (i: number, seed?: number) => {
    const promptIds = [...Buffer.from(PROMPTS[i % PROMPTS.length]!, 'utf8')];
    const maxTokens = 12 + ((i * 7) % 21); // leave at different steps (reference paths are 32 long)
    const sampling = validateSampling(seed === undefined ? { temperature: 0, maxTokens } : { temperature: 0.9, seed, maxTokens }, {
      promptTokens: promptIds.length,
      contextLength: runner.spec.contextLength,
      vocabSize: runner.spec.vocabSize,
    });
    return { promptIds, sampling };
  };

  it('16 mixed requests, joining at different steps and leaving at different lengths, each give their solo output', async () => {
    const specs = Array.from({ length: 16 }, (_, i) => request(i, i % 4 === 3 ? 1000 + i : undefined));
    const solo: number[][] = [];
    // Widest decode pass seen: proves the sequences share forward passes, not just steps.
    let widest = 0;
    let gathers = 0;
    // Steps that decoded with free rows kept as padding: a leave that did not gather.
    let paddedSteps = 0;
    runner.onStep((r) => {
      widest = Math.max(widest, r.decodeBatch);
      gathers += r.rebuilds;
      if (r.decodeRows > r.decodeBatch) paddedSteps++;
    });
    for (const [i, s] of specs.entries()) solo.push(await tokens(engine.generate({ id: `solo-${i}`, ...s })));
    expect(widest).toBe(1);

    gathers = 0;
    // Half start together; each of the others joins once the previous one has streamed 3 tokens.
    const batched: Promise<number[]>[] = specs.slice(0, 8).map((s, i) => tokens(engine.generate({ id: `b-${i}`, ...s })));
    let chain = Promise.resolve();
    for (let i = 8; i < 16; i++) {
      chain = chain.then(
        () =>
          new Promise<void>((joined) => {
            batched[i] = tokens(engine.generate({ id: `b-${i}`, ...specs[i]! }), (n) => n === 3 && joined());
          }),
      );
    }
    await chain;
    const results = await Promise.all(batched);
    results.forEach((r, i) => expect([i, r]).toEqual([i, solo[i]]));
    expect(engine.running).toBe(0);
    expect(widest).toBeGreaterThanOrEqual(8);
    // A leave keeps its row as padding instead of gathering the whole cache.
    expect(paddedSteps).toBeGreaterThan(0);
    // 16 joins and 16 leaves: gathering on each (the design before BatchCache) costs ~25 here (the
    // first 8 join in one pass, some leave at the same step). With free rows reused it is 9–14 on an
    // idle machine; gathers the waste rule adds depend on measured step times, which a loaded
    // machine inflates, so the bound sits between the two rather than at the idle figure.
    expect(gathers).toBeLessThan(20);
  });

  it('sequences with the same prompt (OpenAI n) share one prefill row, and each still gives its solo output', async () => {
    const specs = [11, 12, 13, 14].map((seed) => request(0, seed));
    const solo: number[][] = [];
    for (const [i, s] of specs.entries()) solo.push(await tokens(engine.generate({ id: `n-solo-${i}`, ...s })));
    const prefills: [number, number][] = [];
    const off = runner.onStep((r) => r.prefillBatch > 0 && prefills.push([r.prefillBatch, r.prefillRows]));
    try {
      const together = await Promise.all(specs.map((s, i) => tokens(engine.generate({ id: `n-${i}`, ...s }))));
      expect(together).toEqual(solo);
    } finally {
      off();
    }
    expect(prefills).toEqual([[4, 1]]);
  });
});
