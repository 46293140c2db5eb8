import type { Engine, GenerationRequest, GenerationStream } from './engine';

/**
 * Several engines for one model, each with its own worker thread (INFERENCE_WORKERS_PER_MODEL):
 * more cores for one model when a single onnxruntime session cannot use them. A request goes to
 * the engine with the least work (running plus queued), and stays there.
 */
export class EnginePool {
  constructor(readonly engines: readonly Engine[]) {
    if (engines.length === 0) throw new Error('an engine pool needs at least one engine');
  }

  get running(): number {
    return this.engines.reduce((n, e) => n + e.running, 0);
  }

  get queued(): number {
    return this.engines.reduce((n, e) => n + e.queued, 0);
  }

  get queuedBackground(): number {
    return this.engines.reduce((n, e) => n + e.queuedBackground, 0);
  }

  get kvReserved(): number {
    return this.engines.reduce((n, e) => n + e.kvReserved, 0);
  }

  /** Requests its engines hold at once, running plus waiting: past it each refuses RESOURCE_EXHAUSTED. */
  get capacity(): number {
    return this.engines.reduce((n, e) => n + e.limits.maxBatchSize + e.limits.maxQueueSize, 0);
  }

  get kvBudget(): number {
    return this.engines.reduce((n, e) => n + e.kvBudget, 0);
  }

  generate(req: GenerationRequest): GenerationStream {
    let best = this.engines[0]!;
    for (const e of this.engines) if (e.running + e.queued < best.running + best.queued) best = e;
    return best.generate(req);
  }
}
