/**
 * Worker-thread entry: owns one onnxruntime session, the KV cache of every sequence and their
 * samplers. onnxruntime's run() blocks its thread, so it never runs on a thread that serves RPCs;
 * the main thread only exchanges token ids with this one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CausalLm, type KvTensors } from '@tokenmesh/model';
import { Sampler } from './sampler';
import type { AddSequence, StepResult, StepToken, WorkerCall, WorkerInit, WorkerReply } from './worker-protocol';

interface Sequence {
  readonly add: AddSequence;
  readonly sampler: Sampler;
  past: KvTensors | undefined;
  /** Tokens held in the KV cache. */
  length: number;
  last: number;
}

const port = parentPort!;
const reply = (r: WorkerReply) => port.postMessage(r);

async function load(init: WorkerInit): Promise<{ lm: CausalLm; provider: string }> {
  const errors: string[] = [];
  for (const provider of init.executionProviders) {
    try {
      const lm = await CausalLm.load(init.modelDir, { intraOpNumThreads: init.intraOpThreads, executionProviders: [provider] });
      return { lm, provider };
    } catch (err) {
      errors.push(`${provider}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no execution provider could load ${init.modelDir}: ${errors.join('; ')}`);
}

async function step(lm: CausalLm, seqs: Map<string, Sequence>): Promise<StepResult> {
  const tokens: StepToken[] = [];
  let prefillMs = 0;
  let decodeMs = 0;
  for (const seq of seqs.values()) {
    const t0 = performance.now();
    const prefill = seq.past === undefined;
    const ids = prefill ? [[...seq.add.promptIds]] : [[seq.last]];
    const total = seq.length + ids[0]!.length;
    const positions = [ids[0]!.map((_, i) => seq.length + i)];
    const out = await lm.forward(ids, [new Array<number>(total).fill(1)], positions, seq.past);
    const { token, logprob } = seq.sampler.next(lm.lastLogits(out, 0));
    seq.past = out.past;
    seq.length = total;
    seq.last = token;
    tokens.push({ id: seq.add.id, token, logprob });
    if (prefill) prefillMs += performance.now() - t0;
    else decodeMs += performance.now() - t0;
  }
  return { tokens, prefillMs, decodeMs };
}

async function main(): Promise<void> {
  const { lm, provider } = await load(workerData as WorkerInit);
  const seqs = new Map<string, Sequence>();
  // Calls are handled strictly in order: a step must see every add/remove sent before it.
  let chain = Promise.resolve();
  port.on('message', ({ call, request }: WorkerCall) => {
    chain = chain.then(async () => {
      try {
        if (request.op === 'add') {
          seqs.set(request.seq.id, { add: request.seq, sampler: new Sampler(request.seq.sampling, request.seq.promptIds), past: undefined, length: 0, last: -1 });
          reply({ kind: 'result', call, value: null });
        } else if (request.op === 'remove') {
          seqs.delete(request.id);
          reply({ kind: 'result', call, value: null });
        } else {
          reply({ kind: 'result', call, value: await step(lm, seqs) });
        }
      } catch (err) {
        reply({ kind: 'error', call, message: (err as Error).message });
      }
    });
  });
  reply({ kind: 'ready', executionProvider: provider });
}

main().catch((err: unknown) => reply({ kind: 'error', call: null, message: (err as Error).message }));
