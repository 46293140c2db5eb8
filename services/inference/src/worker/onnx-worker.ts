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

import { Batcher } from './batcher';
import { loadModel } from './load-model';
import type { WorkerInit, WorkerReply } from './protocol';
import { stepLoop } from './step-loop';

const port = parentPort!;
const reply = (r: WorkerReply) => port.postMessage(r);
const init = workerData as WorkerInit;

async function main(): Promise<void> {
  const { lm, provider, lora, decoder } = await loadModel(init);
  const release = async () => {
    await lm.release();
    await lora?.lm.release();
    await decoder?.release();
    await lora?.decoder?.release();
  };
  port.on('message', stepLoop(new Batcher(lm, lora, decoder), init.stepDelayMs, reply, release));
  reply({ kind: 'ready', executionProvider: provider });
}

main().catch((err: unknown) => reply({ kind: 'error', message: (err as Error).message }));
