/**
 * Worker-thread entry: owns one onnxruntime session, the batched KV cache and every sequence's
 * sampler. onnxruntime's run() blocks its thread, so it never runs on a thread that serves RPCs;
 * the main thread only exchanges token ids with this one.
 *
 * The worker steps on its own while it holds sequences and posts one message per step with
 * every sequence's token: it never waits for the serving thread between steps, so a busy event
 * loop there delays how fast tokens are streamed, not how fast they are generated.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CausalLm } from '@tokenmesh/model';
import { Batcher } from './batcher';
import type { WorkerInit, WorkerReply, WorkerRequest } from './protocol';

const port = parentPort!;
const reply = (r: WorkerReply) => port.postMessage(r);
const init = workerData as WorkerInit;

async function load(): Promise<{ lm: CausalLm; provider: string }> {
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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// A turn of the event loop: messages that arrived during a step are delivered before the next.
const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

async function main(): Promise<void> {
  const { lm, provider } = await load();
  const batcher = new Batcher(lm);
  // Requests apply between steps only, in the order they were sent.
  let inbox: WorkerRequest[] = [];
  let looping = false;
  const apply = () => {
    for (const r of inbox) {
      if (r.op === 'add') batcher.add(r.seq);
      else batcher.remove(r.id);
    }
    inbox = [];
  };
  const loop = async () => {
    try {
      for (apply(); batcher.size > 0; apply()) {
        try {
          const step = await batcher.step();
          if (init.stepDelayMs > 0) await sleep(init.stepDelayMs);
          reply({ kind: 'step', step });
        } catch (err) {
          const ids = batcher.ids();
          for (const id of ids) batcher.remove(id);
          reply({ kind: 'failed', ids, message: (err as Error).message });
        }
        await yieldTurn();
      }
    } finally {
      looping = false;
    }
  };
  port.on('message', (batch: WorkerRequest[]) => {
    inbox.push(...batch);
    if (looping) return;
    looping = true;
    // Not at once: messages posted together (several arrivals) are delivered first, and share one prefill.
    setImmediate(() => void loop());
  });
  reply({ kind: 'ready', executionProvider: provider });
}

main().catch((err: unknown) => reply({ kind: 'error', message: (err as Error).message }));
