import type { Batcher } from './batcher';
import type { WorkerReply, WorkerRequest } from './protocol';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// A turn of the event loop: messages that arrived during a step are delivered before the next.
const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

/**
 * The worker's step loop. Returns the handler of the serving thread's messages: it steps on its
 * own while the batcher holds sequences and replies once per step with every sequence's token,
 * so it never waits for the serving thread between steps. Requests apply between steps only, in
 * the order they were sent. A failed step fails (and removes) every sequence of that step.
 */
export function stepLoop(
  batcher: Batcher,
  stepDelayMs: number,
  reply: (r: WorkerReply) => void,
  release: () => Promise<void> = async () => {},
): (batch: WorkerRequest[]) => void {
  let inbox: WorkerRequest[] = [];
  let looping = false;
  let closing = false;
  const apply = () => {
    for (const r of inbox) {
      if (r.op === 'close') closing = true;
      else if (closing) continue;
      else if (r.op === 'add') {
        try {
          batcher.add(r.seq);
        } catch (err) {
          // One sequence the worker cannot take (e.g. a schema it cannot guide) fails alone.
          reply({ kind: 'failed', ids: [r.seq.id], message: (err as Error).message });
        }
      } else if (r.op === 'remove') batcher.remove(r.id);
    }
    inbox = [];
    if (closing) for (const id of batcher.ids()) batcher.remove(id);
  };
  const loop = async () => {
    try {
      for (apply(); batcher.size > 0; apply()) {
        try {
          const step = await batcher.step();
          if (stepDelayMs > 0) await sleep(stepDelayMs);
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
    // Terminating a thread while onnxruntime runs in it can abort the whole process: the serving
    // thread waits for this reply (or a timeout) before it terminates the worker.
    if (closing)
      await release().then(
        () => reply({ kind: 'closed' }),
        (err: unknown) => reply({ kind: 'error', message: (err as Error).message }),
      );
  };
  return (batch) => {
    inbox.push(...batch);
    if (looping || closing) return;
    looping = true;
    // Not at once: messages posted together (several arrivals) are delivered first, and share one prefill.
    setImmediate(() => void loop());
  };
}
