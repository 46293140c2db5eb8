import { Worker } from 'node:worker_threads';

import { AdapterError, loadModelConfig, type ModelSpec } from '@tokenmesh/model';

import type { AddSequence, StepResult, WorkerInit, WorkerReply, WorkerRequest } from '../worker/protocol';

export interface RunnerOptions {
  intraOpThreads: number;
  executionProviders: readonly string[];
  /** Slept by the worker after every step (INFERENCE_STEP_DELAY_MS); default 0. */
  stepDelayMs?: number;
  /** Decode with the model's decode-step export when it has one (INFERENCE_DECODE_EXPORT); default true. */
  decodeExport?: boolean;
}

/** What the owner of a runner (the engine) is told. */
export interface RunnerListener {
  /** One step's tokens, in the order the worker produced them. */
  step(result: StepResult): void;
  /** These sequences failed and have left the worker (a failed step, or the worker died: all of them). */
  failed(ids: readonly string[] | 'all', error: Error): void;
}

/**
 * Main-thread handle of one model's worker thread. Sequences are added and removed with
 * messages; the worker steps on its own while it has any and reports every step. A crashed
 * worker fails every sequence, and every later add.
 */
export class ModelRunner {
  private failure: Error | undefined;
  private listener: RunnerListener | undefined;
  private readonly stepListeners = new Set<(r: StepResult) => void>();
  private outbox: WorkerRequest[] = [];
  /** Adapter loads and unloads waiting for the worker's reply, by ref. */
  private readonly pending = new Map<number, { resolve(rank: number | undefined): void; reject(err: Error): void }>();
  private nextRef = 1;

  private constructor(
    readonly spec: ModelSpec,
    readonly executionProvider: string,
    private readonly worker: Worker,
  ) {
    worker.on('message', (r: WorkerReply) => {
      if (r.kind === 'step') {
        this.listener?.step(r.step);
        for (const l of this.stepListeners) l(r.step);
      } else if (r.kind === 'adapter') {
        const p = this.pending.get(r.ref);
        this.pending.delete(r.ref);
        if (r.message === undefined) p?.resolve(r.rank);
        else p?.reject(r.refused ? new AdapterError(r.refused.adapter, r.refused.field, r.refused.detail) : new Error(r.message));
      } else if (r.kind === 'failed') this.listener?.failed(r.ids, new Error(r.message));
      else if (r.kind === 'error') this.fail(new Error(r.message));
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`inference worker for ${spec.name} exited with code ${code}`)));
  }

  /** Starts the worker and waits until its session (and, with adapters, the base's LoRA export) is loaded. */
  static async start(modelDir: string, options: RunnerOptions, adapterDirs: readonly string[] = []): Promise<ModelRunner> {
    const spec = await loadModelConfig(modelDir);
    const init: WorkerInit = {
      modelDir: spec.dir,
      intraOpThreads: options.intraOpThreads,
      executionProviders: options.executionProviders,
      stepDelayMs: options.stepDelayMs ?? 0,
      adapterDirs,
      decodeExport: options.decodeExport ?? true,
    };
    const entry = require.resolve('../worker/onnx-worker');
    // Sources are TypeScript when run with tsx or jest: the worker needs the same loader.
    const execArgv = entry.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : [];
    const worker = new Worker(entry, { workerData: init, execArgv });
    const provider = await new Promise<string>((resolve, reject) => {
      const onMessage = (r: WorkerReply) => {
        if (r.kind === 'ready') resolve(r.executionProvider);
        else if (r.kind === 'error') reject(new Error(r.message));
        worker.off('message', onMessage);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new ModelRunner(spec, provider, worker);
  }

  /** The engine that owns this runner; one only. */
  attach(listener: RunnerListener): void {
    if (this.listener) throw new Error(`the runner for ${this.spec.name} already has an engine`);
    this.listener = listener;
  }

  /** Observes every step (tests, benchmarks); returns the unsubscribe function. */
  onStep(listener: (r: StepResult) => void): () => void {
    this.stepListeners.add(listener);
    return () => this.stepListeners.delete(listener);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.listener?.failed('all', err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /**
   * Loads the PEFT adapter in `dir` into `slot` of the base's LoRA inputs, beside the running
   * steps; sequences may use the slot once this resolves. @returns the adapter's rank
   * @throws Error naming what is wrong with the adapter (or the LoRA export), or the worker's failure
   */
  async loadAdapter(slot: number, dir: string): Promise<number> {
    return (await this.adapterOp((ref) => ({ op: 'load-adapter', ref, slot, dir })))!;
  }

  /** Frees `slot`; call it only once no sequence of that adapter is left. */
  async unloadAdapter(slot: number): Promise<void> {
    await this.adapterOp((ref) => ({ op: 'unload-adapter', ref, slot }));
  }

  private adapterOp(request: (ref: number) => WorkerRequest): Promise<number | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    const ref = this.nextRef++;
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.post(request(ref));
    });
  }

  /**
   * Requests of one turn go to the worker in one message, after the turn's microtasks: a leave
   * and the admission it makes room for apply at the same step, and the worker gets one message
   * instead of one per request.
   */
  private post(request: WorkerRequest): void {
    this.outbox.push(request);
    if (this.outbox.length > 1) return;
    queueMicrotask(() => {
      const batch = this.outbox;
      this.outbox = [];
      this.worker.postMessage(batch);
    });
  }

  /** The sequence joins at the worker's next step. @throws the worker's failure once it has failed. */
  add(seq: AddSequence): void {
    if (this.failure) throw this.failure;
    this.post({ op: 'add', seq });
  }

  /** The sequence leaves before the worker's next step; unknown ids are ignored. */
  remove(id: string): void {
    if (!this.failure) this.post({ op: 'remove', id });
  }

  /**
   * Asks the worker to stop after its current step and release its session, then terminates the
   * thread: terminating it mid-run() can abort the process from inside onnxruntime. A worker that
   * does not answer within `graceMs` (or has failed) is terminated anyway.
   */
  async close(graceMs = 5000): Promise<void> {
    const failed = this.failure !== undefined;
    this.failure ??= new Error(`inference worker for ${this.spec.name} is closed`);
    this.worker.removeAllListeners('exit');
    if (!failed) {
      const closed = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        const done = () => (clearTimeout(timer), resolve());
        this.worker.on('message', (r: WorkerReply) => (r.kind === 'closed' || r.kind === 'error') && done());
        this.worker.once('exit', done);
      });
      this.worker.postMessage([{ op: 'close' } satisfies WorkerRequest]);
      await closed;
    }
    await this.worker.terminate();
  }
}
