import { Worker } from 'node:worker_threads';
import { loadModelConfig, type ModelSpec } from '@tokenmesh/model';
import type { AddSequence, StepResult, WorkerCall, WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol';

export interface RunnerOptions {
  intraOpThreads: number;
  executionProviders: readonly string[];
}

/**
 * Main-thread handle of one model's worker thread. Calls are queued in order and answered by the
 * worker; a crashed worker fails every pending and later call.
 */
export class ModelRunner {
  private nextCall = 0;
  private readonly pending = new Map<number, { resolve: (v: StepResult | null) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(
    readonly spec: ModelSpec,
    readonly executionProvider: string,
    private readonly worker: Worker,
  ) {
    worker.on('message', (r: WorkerReply) => {
      if (r.kind === 'ready') return;
      const p = r.call === null ? undefined : this.pending.get(r.call);
      if (r.call !== null) this.pending.delete(r.call);
      if (r.kind === 'result') p?.resolve(r.value);
      else if (p) p.reject(new Error(r.message));
      else this.fail(new Error(r.message));
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`inference worker for ${spec.name} exited with code ${code}`)));
  }

  /** Starts the worker and waits until its session is loaded. */
  static async start(modelDir: string, options: RunnerOptions): Promise<ModelRunner> {
    const spec = await loadModelConfig(modelDir);
    const init: WorkerInit = { modelDir: spec.dir, intraOpThreads: options.intraOpThreads, executionProviders: options.executionProviders };
    const entry = require.resolve('./onnx-worker');
    // Sources are TypeScript when run with tsx or jest: the worker needs the same loader.
    const execArgv = entry.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : [];
    const worker = new Worker(entry, { workerData: init, execArgv });
    const provider = await new Promise<string>((resolve, reject) => {
      const onMessage = (r: WorkerReply) => {
        if (r.kind === 'ready') resolve(r.executionProvider);
        else if (r.kind === 'error') reject(new Error(r.message));
        if (r.kind !== 'result') worker.off('message', onMessage);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new ModelRunner(spec, provider, worker);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private call(request: WorkerRequest): Promise<StepResult | null> {
    if (this.failure) return Promise.reject(this.failure);
    const call = this.nextCall++;
    return new Promise((resolve, reject) => {
      this.pending.set(call, { resolve, reject });
      this.worker.postMessage({ call, request } satisfies WorkerCall);
    });
  }

  async add(seq: AddSequence): Promise<void> {
    await this.call({ op: 'add', seq });
  }

  async remove(id: string): Promise<void> {
    await this.call({ op: 'remove', id });
  }

  /** One forward pass for every sequence: prefill for new ones, one decode step for the rest. */
  async step(): Promise<StepResult> {
    return (await this.call({ op: 'step' }))!;
  }

  async close(): Promise<void> {
    this.failure ??= new Error(`inference worker for ${this.spec.name} is closed`);
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
