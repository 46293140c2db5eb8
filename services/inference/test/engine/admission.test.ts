import { resolve } from 'node:path';

import { type Client, Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { validateSampling } from '@tokenmesh/model';
import { GenerationService } from '@tokenmesh/proto';

import type { GenerationEvent } from '../../src/engine/engine';
import { DEFAULT_LIMITS, QueueDeadlineError } from '../../src/engine/engine-limits';
import { QueueFullError } from '../../src/engine/request-queue';
import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';
import { generationService } from '../../src/rpc/service';

const MODEL = resolve(__dirname, '../../../../models/tinygpt');
const LIMITS = { ...DEFAULT_LIMITS, maxBatchSize: 2, maxBatchPrefillTokens: 512, maxBatchTotalTokens: 4096, maxQueueSize: 1 };

async function firstError(stream: AsyncIterable<unknown>): Promise<ConnectError | undefined> {
  try {
    for await (const _ of stream) void _;
  } catch (e) {
    return ConnectError.from(e);
  }
  return undefined;
}

describe('admission: batch size, queue limit, deadlines, cancellation', () => {
  let repo: ModelRepo;
  let client: Client<typeof GenerationService>;
  let steps = 0;
  /** The request ids that got a token, per worker step, in order. */
  const stepIds: Set<string>[] = [];

  beforeAll(async () => {
    // 5 ms per step: a long request outlasts any wait of these tests on a loaded machine (the worker
    // steps on its own, so 300 tokens would otherwise be over in a fraction of a second).
    repo = await ModelRepo.load([parseModelEntry(MODEL)], { intraOpThreads: 1, executionProviders: ['cpu'], stepDelayMs: 5 }, LIMITS);
    const runner = repo.models[0]!.runners[0]!;
    runner.onStep((r) => {
      steps++;
      stepIds.push(new Set(r.tokens.map((t) => t.id)));
    });
    client = createClient(
      GenerationService,
      createRouterTransport((r) => r.service(GenerationService, generationService(repo, 'w1'))),
    );
  });
  afterAll(() => repo.close());

  const long = (prompt: string, signal?: AbortSignal) =>
    client.generate({ model: 'tinygpt', promptTokenIds: [...Buffer.from(prompt)], sampling: { maxTokens: 300, temperature: 0 } }, { signal });

  it('a cancelled stream frees its slot: the queued request starts at the next step, the other is unaffected', async () => {
    const engine = repo.models[0]!.engine;
    const spec = repo.models[0]!.spec;
    const run = (prompt: string, signal?: AbortSignal, id = `${prompt}-${Math.random()}`) => {
      const promptIds = [...Buffer.from(prompt)];
      const sampling = validateSampling(
        { maxTokens: 120, temperature: 0 },
        { promptTokens: promptIds.length, contextLength: spec.contextLength, vocabSize: spec.vocabSize },
      );
      return engine.generate({ id, promptIds, sampling, signal })[Symbol.asyncIterator]();
    };
    const drain = async (it: AsyncIterator<GenerationEvent>, onFirst?: () => void) => {
      const ids: number[] = [];
      for (let e = await it.next(); !e.done; e = await it.next()) {
        if (e.value.type === 'token') {
          if (ids.length === 0) onFirst?.();
          ids.push(e.value.tokenId);
        }
      }
      return ids;
    };
    const solo = await drain(run('And God said'));

    const abortA = new AbortController();
    const a = run('In the beginning', abortA.signal, 'a');
    await a.next();
    let bStarted!: () => void;
    const bRunning = new Promise<void>((r) => (bStarted = r));
    const b = drain(run('And God said'), () => bStarted());
    await bRunning;
    const c = drain(run('The Jargon File', undefined, 'c'));
    for (let i = 0; i < 5; i++) await a.next();
    expect([engine.running, engine.queued]).toEqual([2, 1]);
    const stepsAtCancel = steps;
    abortA.abort();
    await c;
    // The worker steps on its own, so steps it ran before the cancel reached it still carry a's
    // tokens; the first step after that prefills c in a's slot.
    const lastA = stepIds.findLastIndex((ids) => ids.has('a'));
    const firstC = stepIds.findIndex((ids) => ids.has('c'));
    expect(lastA).toBeGreaterThanOrEqual(stepsAtCancel - 1);
    expect(firstC).toBe(lastA + 1);
    expect(await b).toEqual(solo);
  });

  it('a full queue answers RESOURCE_EXHAUSTED at once, with a retry-after hint', async () => {
    const abort = new AbortController();
    const running = [long('one', abort.signal), long('two', abort.signal)].map((s) => firstError(s));
    const engine = repo.models[0]!.engine;
    while (engine.running < 2) await new Promise((r) => setTimeout(r, 1));
    const queued = firstError(long('three', abort.signal));
    while (engine.queued < 1) await new Promise((r) => setTimeout(r, 1));
    const t0 = performance.now();
    const err = await firstError(long('four'));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.rawMessage).toContain('the queue is full (1 requests waiting)');
    expect(Number(err?.metadata.get('retry-after'))).toBeGreaterThanOrEqual(1);
    abort.abort();
    await Promise.all([...running, queued]);
  });

  it('a deadline that passes in the queue ends the request with a deadline error, unstarted', async () => {
    const engine = repo.models[0]!.engine;
    const spec = repo.models[0]!.spec;
    const sampling = validateSampling({ maxTokens: 200, temperature: 0 }, { promptTokens: 1, contextLength: spec.contextLength, vocabSize: spec.vocabSize });
    const abort = new AbortController();
    const busy = ['x', 'y'].map((id) => engine.generate({ id, promptIds: [65], sampling, signal: abort.signal })[Symbol.asyncIterator]());
    await Promise.all(busy.map((it) => it.next()));
    const t0 = performance.now();
    const late = engine.generate({ id: 'late', promptIds: [66], sampling, deadline: t0 + 100 })[Symbol.asyncIterator]();
    await expect(late.next()).rejects.toThrow(QueueDeadlineError);
    expect(performance.now() - t0).toBeLessThan(2000);
    abort.abort();
    for (const it of busy) while (!(await it.next()).done);
    expect([engine.running, engine.queued, engine.kvReserved]).toEqual([0, 0, 0]);
  });

  it('a second request with a queued id is refused and the queued one still runs', async () => {
    const engine = repo.models[0]!.engine.engines[0]!;
    const spec = repo.models[0]!.spec;
    const sampling = validateSampling({ maxTokens: 100, temperature: 0 }, { promptTokens: 1, contextLength: spec.contextLength, vocabSize: spec.vocabSize });
    const abort = new AbortController();
    const busy = ['p', 'q'].map((id) => engine.generate({ id, promptIds: [65], sampling, signal: abort.signal })[Symbol.asyncIterator]());
    await Promise.all(busy.map((it) => it.next()));
    const queued = engine.generate({ id: 'dup', promptIds: [66], sampling: { ...sampling, maxTokens: 3 } })[Symbol.asyncIterator]();
    expect(engine.queued).toBe(1);
    expect(() => engine.generate({ id: 'dup', promptIds: [67], sampling })).toThrow('request id dup is already running or queued');
    expect(engine.queued).toBe(1);
    abort.abort();
    let tokens = 0;
    for (let e = await queued.next(); !e.done; e = await queued.next()) if (e.value.type === 'token') tokens++;
    expect(tokens).toBe(3);
    for (const it of busy) while (!(await it.next()).done);
  });
});

describe('the queue is bounded by its estimated wait, not by a count', () => {
  it('queues while the estimated wait is short and refuses at once with that estimate beyond it', async () => {
    const limits = { ...DEFAULT_LIMITS, maxBatchSize: 2, maxQueueWaitMs: 400 };
    const repo = await ModelRepo.load([parseModelEntry(MODEL)], { intraOpThreads: 1, executionProviders: ['cpu'] }, limits);
    try {
      const m = repo.models[0]!;
      const sampling = (maxTokens: number) =>
        validateSampling({ maxTokens, temperature: 0 }, { promptTokens: 1, contextLength: m.spec.contextLength, vocabSize: m.spec.vocabSize });
      const drain = async (events: AsyncIterable<unknown>) => {
        for await (const _ of events) void _;
      };
      // Finished requests teach the engine how long one takes.
      for (let i = 0; i < 3; i++) await drain(m.engine.generate({ id: `short-${i}`, promptIds: [65], sampling: sampling(40) }));
      const abort = new AbortController();
      const running = [0, 1].map((i) => drain(m.engine.generate({ id: `long-${i}`, promptIds: [65], sampling: sampling(400), signal: abort.signal })));
      const queued: Promise<void>[] = [];
      let refused: unknown;
      for (let i = 0; i < 500 && !refused; i++) {
        try {
          queued.push(drain(m.engine.generate({ id: `q-${i}`, promptIds: [66], sampling: sampling(40), signal: abort.signal })).catch(() => undefined));
        } catch (err) {
          refused = err;
        }
      }
      expect(refused).toBeInstanceOf(QueueFullError);
      const err = refused as QueueFullError;
      expect(err.message).toMatch(/requests waiting, an estimated \d+ s before this one would start/);
      expect(err.retryAfterMs).toBeGreaterThan(limits.maxQueueWaitMs);
      // Far fewer than the count bound: the estimate refused it.
      expect(queued.length).toBeLessThan(limits.maxQueueSize);
      abort.abort();
      await Promise.all([...running, ...queued].map((p) => p.catch(() => undefined)));
    } finally {
      await repo.close();
    }
  });
});
