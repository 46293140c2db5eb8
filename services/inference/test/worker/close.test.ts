import { resolve } from 'node:path';

import { CausalLm, validateSampling } from '@tokenmesh/model';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';
import { Batcher } from '../../src/worker/batcher';
import type { WorkerReply, WorkerRequest } from '../../src/worker/protocol';
import { stepLoop } from '../../src/worker/step-loop';

const MODEL = resolve(__dirname, '../../../../models/tinygpt');
const PROMPT = [73, 110, 32, 116, 104, 101];

// Terminating a worker thread while onnxruntime runs in it can abort the process from native
// code, so a close stops the loop between steps and releases the session first.
describe('closing the worker', () => {
  it('stops after the step in progress, drops its sequences, releases the session once and then replies closed', async () => {
    const lm = await CausalLm.load(MODEL, { intraOpNumThreads: 1, executionProviders: ['cpu'] });
    const sampling = validateSampling(
      { maxTokens: 400, temperature: 0 },
      { promptTokens: PROMPT.length, contextLength: lm.spec.contextLength, vocabSize: lm.spec.vocabSize },
    );
    const replies: WorkerReply[] = [];
    let releases = 0;
    let closed!: () => void;
    const done = new Promise<void>((r) => (closed = r));
    let firstStep!: () => void;
    const stepped = new Promise<void>((r) => (firstStep = r));
    const post = stepLoop(
      new Batcher(lm),
      0,
      (r) => {
        replies.push(r);
        if (r.kind === 'step') firstStep();
        if (r.kind === 'closed') closed();
      },
      async () => {
        releases++;
        await lm.release();
      },
    );
    post([0, 1, 2].map((i): WorkerRequest => ({ op: 'add', seq: { id: `s${i}`, promptIds: PROMPT, sampling } })));
    await stepped;
    post([{ op: 'close' }]);
    await done;
    // Requests after the close are ignored: the session is gone.
    post([{ op: 'add', seq: { id: 'late', promptIds: PROMPT, sampling } }, { op: 'close' }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(releases).toBe(1);
    expect(replies.at(-1)).toEqual({ kind: 'closed' });
    expect(replies.filter((r) => r.kind === 'closed')).toHaveLength(1);
    expect(replies.some((r) => r.kind === 'failed' || r.kind === 'error')).toBe(false);
    // It stopped long before 400 tokens.
    expect(replies.filter((r) => r.kind === 'step').length).toBeLessThan(400);
  });

  it('a model repo closes while every row is mid-generation, and the process lives on', async () => {
    for (let round = 0; round < 3; round++) {
      const repo = await ModelRepo.load([parseModelEntry(MODEL)], { intraOpThreads: 1, executionProviders: ['cpu'] });
      const m = repo.models[0]!;
      const sampling = validateSampling(
        { maxTokens: 400, temperature: 0.8 },
        { promptTokens: PROMPT.length, contextLength: m.spec.contextLength, vocabSize: m.spec.vocabSize },
      );
      const streams = Array.from({ length: 16 }, (_, i) => m.engine.generate({ id: `r${round}-${i}`, promptIds: PROMPT, sampling })[Symbol.asyncIterator]());
      // Every stream has a token: the worker is stepping a full batch when the close comes.
      await Promise.all(streams.map((s) => s.next()));
      await repo.close();
      await Promise.all(streams.map((s) => s.return?.().catch(() => undefined)));
    }
  });
});
