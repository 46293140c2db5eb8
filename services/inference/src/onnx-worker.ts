/**
 * Worker-thread entry: owns one onnxruntime session, the batched KV cache and every sequence's
 * sampler. onnxruntime's run() blocks its thread, so it never runs on a thread that serves RPCs;
 * the main thread only exchanges token ids with this one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CausalLm, leftPad, pastNames, positionIds } from '@tokenmesh/model';
import { rebuildKv, type KvRow } from './batch-kv';
import { Sampler } from './sampler';
import type { AddSequence, StepResult, StepToken, WorkerCall, WorkerInit, WorkerReply } from './worker-protocol';

interface Sequence {
  readonly add: AddSequence;
  readonly sampler: Sampler;
  /** Positions in its KV cache (prompt and generated tokens, `last` excluded until fed). */
  length: number;
  /** The newest sampled token, fed at the next decode step. */
  last: number;
  /** Its KV cache: undefined until prefilled; a prefill batch's cache until it joins the running batch. */
  kv: KvRow | undefined;
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

const zeros = (n: number) => new Array<number>(n).fill(0);
const ones = (n: number) => new Array<number>(n).fill(1);

/**
 * Batched steps over every sequence: one forward pass decodes all running sequences together
 * (left-padded rows of one KV cache), one more prefills the sequences that joined since the
 * last step. While membership is unchanged each step's `present` is the next step's `past`; a
 * sequence joining or leaving costs one rebuild of the cache.
 */
class Batcher {
  constructor(
    private readonly lm: CausalLm,
    private readonly seqs: Map<string, Sequence>,
  ) {}

  async step(): Promise<StepResult> {
    const tokens: StepToken[] = [];
    const t0 = performance.now();
    const running = [...this.seqs.values()].filter((s) => s.kv !== undefined);
    if (running.length > 0) await this.decode(running, tokens);
    const t1 = performance.now();
    const fresh = [...this.seqs.values()].filter((s) => s.kv === undefined);
    if (fresh.length > 0) await this.prefill(fresh, tokens);
    return { tokens, decodeBatch: running.length, prefillBatch: fresh.length, prefillMs: performance.now() - t1, decodeMs: t1 - t0 };
  }

  private async decode(running: Sequence[], tokens: StepToken[]): Promise<void> {
    const names = pastNames(this.lm.spec);
    const shared = running[0]!.kv!.past;
    const unchanged = running.every((s, i) => s.kv!.past === shared && s.kv!.index === i) && shared[names[0]!]!.dims[0] === running.length;
    const past = unchanged ? shared : rebuildKv(running.map((s) => s.kv!), names).past;
    const width = past[names[0]!]!.dims[2]!;
    const out = await this.lm.forward(
      running.map((s) => [s.last]),
      running.map((s) => [...zeros(width - s.length), ...ones(s.length + 1)]),
      running.map((s) => [s.length]),
      past,
    );
    running.forEach((s, i) => {
      const { token, logprob } = s.sampler.next(this.lm.lastLogits(out, i));
      s.length += 1;
      s.last = token;
      s.kv = { past: out.past, index: i, length: s.length };
      tokens.push({ id: s.add.id, token, logprob });
    });
  }

  private async prefill(fresh: Sequence[], tokens: StepToken[]): Promise<void> {
    const { ids, mask } = leftPad(fresh.map((s) => s.add.promptIds), this.lm.spec.padTokenId);
    const out = await this.lm.forward(ids, mask, positionIds(mask));
    fresh.forEach((s, i) => {
      const { token, logprob } = s.sampler.next(this.lm.lastLogits(out, i));
      s.length = s.add.promptIds.length;
      s.last = token;
      s.kv = { past: out.past, index: i, length: s.length };
      tokens.push({ id: s.add.id, token, logprob });
    });
  }
}

async function main(): Promise<void> {
  const { lm, provider } = await load(workerData as WorkerInit);
  const seqs = new Map<string, Sequence>();
  const batcher = new Batcher(lm, seqs);
  // Calls are handled strictly in order: a step must see every add/remove sent before it.
  let chain = Promise.resolve();
  port.on('message', ({ call, request }: WorkerCall) => {
    chain = chain.then(async () => {
      try {
        if (request.op === 'add') {
          seqs.set(request.seq.id, { add: request.seq, sampler: new Sampler(request.seq.sampling, request.seq.promptIds), length: 0, last: -1, kv: undefined });
          reply({ kind: 'result', call, value: null });
        } else if (request.op === 'remove') {
          seqs.delete(request.id);
          reply({ kind: 'result', call, value: null });
        } else {
          reply({ kind: 'result', call, value: await batcher.step() });
        }
      } catch (err) {
        reply({ kind: 'error', call, message: (err as Error).message });
      }
    });
  });
  reply({ kind: 'ready', executionProvider: provider });
}

main().catch((err: unknown) => reply({ kind: 'error', call: null, message: (err as Error).message }));
