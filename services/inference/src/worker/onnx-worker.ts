/**
 * Worker-thread entry: owns one onnxruntime session, the batched KV cache and every sequence's
 * sampler. onnxruntime's run() blocks its thread, so it never runs on a thread that serves RPCs;
 * the main thread only exchanges token ids with this one.
 *
 * The worker steps on its own while it holds sequences and posts one message per step with
 * every sequence's token: it never waits for the serving thread between steps, so a busy event
 * loop there delays how fast tokens are streamed, not how fast they are generated.
 *
 * Loaded by path (engine/model-runner.ts resolves `../worker/onnx-worker`): keep it here, or move both.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { AdapterError, loadTokenBytes } from '@tokenmesh/model';

import { AdapterSlots } from './adapter-slots';
import { Batcher } from './batcher';
import { loadModel } from './load-model';
import type { WorkerInit, WorkerReply, WorkerRequest } from './protocol';
import { stepLoop } from './step-loop';

const port = parentPort!;
const reply = (r: WorkerReply) => port.postMessage(r);
const init = workerData as WorkerInit;

async function main(): Promise<void> {
  const model = await loadModel(init);
  const { lm, provider, decoder } = model;
  // Without tokenizer.json the model serves, and only guided decoding is refused.
  const tokenBytes = await loadTokenBytes(init.modelDir).catch(() => undefined);
  const batcher = new Batcher(lm, undefined, decoder, tokenBytes);
  const slots = new AdapterSlots(lm.spec, batcher, model.loadLora, model.adapters, model.lora);
  const release = async () => {
    const lora = await slots.loadedSessions();
    await lm.release();
    await lora?.lm.release();
    await decoder?.release();
    await lora?.decoder?.release();
  };
  const steps = stepLoop(batcher, init.stepDelayMs, reply, release);
  // Adapter changes run beside the steps (a load reads files and may load the LoRA exports).
  const adapters = (r: WorkerRequest & { op: 'load-adapter' | 'unload-adapter' }) =>
    (r.op === 'load-adapter' ? slots.load(r.slot, r.dir) : slots.unload(r.slot).then(() => undefined)).then(
      (rank) => reply({ kind: 'adapter', ref: r.ref, ...(rank !== undefined && { rank }) }),
      (err: unknown) =>
        reply({
          kind: 'adapter',
          ref: r.ref,
          message: (err as Error).message,
          ...(err instanceof AdapterError && { refused: { adapter: err.adapter, field: err.field, detail: err.detail } }),
        }),
    );
  port.on('message', (batch: WorkerRequest[]) => {
    const rest: WorkerRequest[] = [];
    for (const r of batch) {
      if (r.op === 'load-adapter' || r.op === 'unload-adapter') void adapters(r);
      else rest.push(r);
    }
    if (rest.length > 0) steps(rest);
  });
  reply({ kind: 'ready', executionProvider: provider });
}

main().catch((err: unknown) => reply({ kind: 'error', message: (err as Error).message }));
