import { resolve } from 'node:path';

import { validateSampling } from '@tokenmesh/model';

import type { GenerationEvent, GenerationStream } from '../../src/engine/engine';
import { DEFAULT_LIMITS } from '../../src/engine/engine-limits';
import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';

const MODEL = resolve(__dirname, '../../../../models/tinygpt');
const WINDOW_MS = 300;
// maxQueueWaitMs 1: any request that had to count the waiting ones ahead of it would be refused.
const LIMITS = { ...DEFAULT_LIMITS, maxBatchSize: 8, maxQueueWaitMs: 1, yieldRows: 1, yieldWindowMs: WINDOW_MS };
const INTERACTIVE = 0;
const BATCH = 10;

describe('priority yield: batch-priority rows make room for interactive ones (real tinygpt)', () => {
  let repo: ModelRepo;
  /** Ids that got a token in each worker step, with when the step's reply arrived. */
  const steps: { at: number; ids: Set<string> }[] = [];

  beforeAll(async () => {
    // 5 ms per step: the long requests outlast the window on a loaded machine.
    repo = await ModelRepo.load([parseModelEntry(MODEL)], { intraOpThreads: 1, executionProviders: ['cpu'], stepDelayMs: 5 }, LIMITS);
    repo.models[0]!.runners[0]!.onStep((r) => steps.push({ at: performance.now(), ids: new Set(r.tokens.map((t) => t.id)) }));
  });
  afterAll(() => repo.close());

  it('while interactive requests run, batch ones run one at a time and never delay them; a window after the last, the rest join', async () => {
    const engine = repo.models[0]!.engine.engines[0]!;
    const spec = repo.models[0]!.spec;
    const gen = (id: string, priority: number, maxTokens: number, signal?: AbortSignal): GenerationStream =>
      engine.generate({
        id,
        priority,
        signal,
        promptIds: [...Buffer.from(id)],
        sampling: validateSampling({ maxTokens, temperature: 0 }, { promptTokens: id.length, contextLength: spec.contextLength, vocabSize: spec.vocabSize }),
      });
    const drain = async (s: AsyncIterable<GenerationEvent>) => {
      let tokens = 0;
      for await (const e of s) if (e.type === 'token') tokens++;
      return tokens;
    };
    // A finished request gives the engine its service-time estimate (the queue's wait estimate needs one).
    await drain(gen('warm', INTERACTIVE, 3));

    const stopInteractive = new AbortController();
    const stopBatch = new AbortController();
    const interactive = gen('i1', INTERACTIVE, 400, stopInteractive.signal)[Symbol.asyncIterator]();
    await interactive.next();
    const lines = ['l1', 'l2'].map((id) => drain(gen(id, BATCH, 400, stopBatch.signal)));
    expect([engine.running, engine.queued]).toEqual([2, 1]);

    // An interactive arrival overtakes the held batch line and is not refused for it.
    expect(await drain(gen('i2', INTERACTIVE, 5))).toBe(5);
    expect(engine.queued).toBe(1);
    // Held batch lines are no reason to scale out (the autoscaler reads waiting minus these).
    expect(engine.queuedBackground).toBe(1);

    const lastInteractive = performance.now();
    stopInteractive.abort();
    while (!(await interactive.next()).done);
    const joined = () => steps.find((s) => s.ids.has('l1') && s.ids.has('l2'));
    for (const t0 = performance.now(); !joined() && performance.now() - t0 < 20_000;) await new Promise((r) => setTimeout(r, 10));
    stopBatch.abort();
    await Promise.all(lines);

    const batchRows = (ids: Set<string>) => ['l1', 'l2'].filter((id) => ids.has(id)).length;
    const withInteractive = steps.filter((s) => s.ids.has('i1') || s.ids.has('i2'));
    expect(withInteractive.length).toBeGreaterThan(5);
    expect(Math.max(...withInteractive.map((s) => batchRows(s.ids)))).toBe(1);
    // The held line joined the running one, once the window after the last interactive request had passed.
    expect(joined()).toBeDefined();
    const firstHeld = steps.find((s) => s.ids.has('l2'))!;
    expect(firstHeld.at - lastInteractive).toBeGreaterThanOrEqual(WINDOW_MS - 5);
    expect([engine.running, engine.queued, engine.kvReserved]).toEqual([0, 0, 0]);
  });

  it('with no interactive request in the window, batch requests fill the batch at once', async () => {
    const engine = repo.models[0]!.engine.engines[0]!;
    const spec = repo.models[0]!.spec;
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const sampling = validateSampling({ maxTokens: 4, temperature: 0 }, { promptTokens: 1, contextLength: spec.contextLength, vocabSize: spec.vocabSize });
    const all = ['m1', 'm2', 'm3'].map((id) => engine.generate({ id, priority: BATCH, promptIds: [65], sampling }));
    expect([engine.running, engine.queued]).toEqual([3, 0]);
    for (const s of all) for await (const _ of s) void _;
  });
});
