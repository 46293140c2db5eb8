import type { Sampling } from '@tokenmesh/model';

import type { StepResult, StepToken } from '../worker/protocol';
import { AsyncQueue } from './async-queue';
import { DEFAULT_LIMITS, type EngineLimits, QueueDeadlineError, RequestTooLargeError } from './engine-limits';
import type { EngineObserver } from './engine-metrics';
import type { ModelRunner } from './model-runner';
import { PriorityYield } from './priority-yield';
import { type Queued, QueueFullError, RequestQueue } from './request-queue';
import { WaitEstimate } from './wait-estimate';

export type FinishReason = 'length' | 'eos' | 'stop' | 'cancelled';

export interface GenerationRequest {
  readonly id: string;
  readonly promptIds: readonly number[];
  readonly sampling: Sampling;
  /** Aborting ends the stream with finish reason `cancelled` and frees the sequence at once. */
  readonly signal?: AbortSignal;
  /** Lower runs first; FIFO within a level. Default 0. */
  readonly priority?: number;
  /** performance.now() by which the request must have started, or it fails with QueueDeadlineError. */
  readonly deadline?: number;
  /** The LoRA adapter's slot in the worker (ModelRepo); absent: the base model. */
  readonly adapter?: number;
}

export interface TokenEvent {
  readonly type: 'token';
  readonly tokenId: number;
  readonly logprob: number;
  /** With top_logprobs: the most likely tokens at this position. */
  readonly top?: StepToken['top'];
}

export interface Timings {
  queueMs: number;
  timeToFirstTokenMs: number;
  decodeMs: number;
  totalMs: number;
}

export interface FinishEvent {
  readonly type: 'finish';
  readonly reason: FinishReason;
  readonly promptTokens: number;
  /** Tokens the model produced, the end-of-sequence or stop token included. */
  readonly completionTokens: number;
  readonly timings: Timings;
  /** Sequences in the batch (this one included) when it was admitted; 0 if it never was. */
  readonly batchSize: number;
}

export type GenerationEvent = TokenEvent | FinishEvent;

/** One request's events: one at a time, or with `batches()` everything that is ready at once. */
export interface GenerationStream extends AsyncIterable<GenerationEvent> {
  /** With `holdMs`, each batch after the first is collected that long; with `minItems`, batches wait for that many (see AsyncQueue.batches). */
  batches(holdMs?: () => number, minItems?: number): AsyncIterable<GenerationEvent[]>;
}

interface Active extends Queued {
  readonly req: GenerationRequest;
  readonly out: AsyncQueue<GenerationEvent>;
  firstAt: number | undefined;
  lastAt: number;
  /** When it was handed to the worker. */
  admittedAt: number;
  /** Sequences running, this one included, when it was admitted. */
  batchAtAdmission: number;
  generated: number;
  done: boolean;
  /** In the worker: admitted and not yet known to have left it. */
  inWorker: boolean;
}

/**
 * Drives one model's worker. Requests wait in the queue (the single owner of waiting state);
 * whenever capacity frees up the engine admits as many as the limits allow (batch size, prefill
 * tokens, KV budget) and the worker prefills them at its next step, decoding every running
 * sequence in one pass (continuous batching). The worker steps on its own and ends sequences on
 * end-of-sequence, stop token ids and max_tokens; cancelled ones leave before its next step.
 */
export class Engine {
  private readonly active = new Map<string, Active>();
  private readonly waiting: RequestQueue<Active>;
  private readonly estimate = new WaitEstimate();
  private readonly yielding: PriorityYield;
  private reserved = 0;
  private gatherTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runner: ModelRunner,
    readonly limits: EngineLimits = DEFAULT_LIMITS,
    private readonly observer?: EngineObserver,
  ) {
    this.yielding = new PriorityYield(limits.yieldRows, limits.yieldWindowMs);
    this.waiting = new RequestQueue<Active>({ maxSize: limits.maxQueueSize, maxTokens: limits.maxQueueTokens }, () => this.waitMs());
    runner.attach({ step: (r) => this.onStep(r), failed: (ids, err) => this.onFailed(ids, err) });
  }

  /** Requests admitted to the worker. */
  get running(): number {
    return this.active.size;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** Waiting requests of a worse priority than interactive (0), such as batch lines held back while interactive ones run. */
  get queuedBackground(): number {
    return this.waiting.size - this.waiting.ahead(0);
  }

  /** KV tokens reserved by running requests, of kvBudget. */
  get kvReserved(): number {
    return this.reserved;
  }

  get kvBudget(): number {
    return this.limits.maxBatchTotalTokens;
  }

  /** Estimated ms before a request joining the queue now would be admitted. */
  private waitMs(): number {
    return this.estimate.waitMs(this.waiting.size + 1, this.active.size);
  }

  /**
   * Streams the tokens of one request, then one finish event.
   * @throws QueueFullError at once when the queue cannot take it (size, KV tokens, estimated
   * wait); RequestTooLargeError when the request could never fit the limits.
   */
  generate(req: GenerationRequest): GenerationStream {
    if (this.active.has(req.id) || this.waiting.has(req.id)) throw new Error(`request id ${req.id} is already running or queued`);
    const prompt = req.promptIds.length;
    const cost = prompt + req.sampling.maxTokens;
    if (prompt > this.limits.maxBatchPrefillTokens) {
      throw new RequestTooLargeError('prompt', `${prompt} tokens exceed this worker's prefill budget of ${this.limits.maxBatchPrefillTokens}`);
    }
    if (cost > this.limits.maxBatchTotalTokens) {
      throw new RequestTooLargeError('max_tokens', `prompt + max_tokens = ${cost} tokens exceed this worker's KV budget of ${this.limits.maxBatchTotalTokens}`);
    }
    const ahead = this.waiting.ahead(req.priority ?? 0);
    if (ahead > 0) {
      // Only the waiting requests it would not overtake: batch lines queued never refuse an interactive one.
      const wait = this.estimate.waitMs(ahead + 1, this.active.size);
      if (wait > this.limits.maxQueueWaitMs) {
        throw new QueueFullError(`${ahead} requests waiting, an estimated ${Math.round(wait / 1000)} s before this one would start`, wait);
      }
    }
    const now = performance.now();
    const a: Active = {
      id: req.id,
      priority: req.priority ?? 0,
      deadline: req.deadline,
      enqueuedAt: now,
      cost,
      req,
      out: new AsyncQueue(),
      firstAt: undefined,
      lastAt: 0,
      admittedAt: 0,
      batchAtAdmission: 0,
      generated: 0,
      done: false,
      inWorker: false,
    };
    this.waiting.push(a);
    const onAbort = () => {
      this.waiting.remove(a.id);
      this.finish(a, 'cancelled');
    };
    if (req.signal?.aborted) onAbort();
    else {
      req.signal?.addEventListener('abort', onAbort, { once: true });
      this.schedule();
    }
    return { [Symbol.asyncIterator]: () => a.out[Symbol.asyncIterator](), batches: (hold, min) => a.out.batches(hold, min) };
  }

  /**
   * Admits now, unless the engine is idle with a batching window (max_queue_delay_ms): then the
   * first arrival waits up to the window (or until a full batch is waiting) so that simultaneous
   * arrivals share one prefill.
   */
  private schedule(): void {
    const delay = this.limits.maxQueueDelayMs;
    if (delay === 0 || this.active.size > 0 || this.waiting.size >= this.limits.maxBatchSize) {
      clearTimeout(this.gatherTimer);
      this.gatherTimer = undefined;
      this.admit();
      return;
    }
    const oldest = this.waiting.oldest();
    if (!oldest || this.gatherTimer) return;
    this.gatherTimer = setTimeout(
      () => {
        this.gatherTimer = undefined;
        this.admit();
      },
      Math.max(0, oldest.enqueuedAt + delay - performance.now()),
    );
  }

  private onStep(result: StepResult): void {
    this.observer?.step(result.prefillMs, result.decodeMs, result.decodeBatch, result.prefillBatch);
    const now = performance.now();
    for (const t of result.tokens) {
      const a = this.active.get(t.id);
      if (!a || a.done) continue;
      if (t.finish) a.inWorker = false;
      if (a.firstAt === undefined) {
        a.firstAt = now;
        this.observer?.firstToken(a.admittedAt - a.enqueuedAt, now - a.enqueuedAt);
      } else this.observer?.token(now - a.lastAt);
      a.lastAt = now;
      a.generated++;
      if (t.finish === 'eos' || t.finish === 'stop') this.finish(a, t.finish);
      else {
        a.out.push(t.top ? { type: 'token', tokenId: t.token, logprob: t.logprob, top: t.top } : { type: 'token', tokenId: t.token, logprob: t.logprob });
        if (t.finish === 'length') this.finish(a, 'length');
      }
    }
    for (const late of this.waiting.expire(now)) this.fail(late, new QueueDeadlineError(now - late.enqueuedAt));
    this.schedule();
  }

  private onFailed(ids: readonly string[] | 'all', err: Error): void {
    const failed = ids === 'all' ? [...this.active.values(), ...this.waiting.take(() => true)] : ids.map((id) => this.active.get(id));
    for (const a of failed) {
      if (!a) continue;
      a.inWorker = false;
      this.fail(a, err);
    }
  }

  /** Moves waiting requests into the worker while the limits allow. */
  private admit(): void {
    let prefill = 0;
    const now = performance.now();
    const admitted = this.waiting.take((a) => {
      const prompt = a.req.promptIds.length;
      if (this.active.size >= this.limits.maxBatchSize) return false;
      if (prefill + prompt > this.limits.maxBatchPrefillTokens) return false;
      if (this.reserved + a.cost > this.limits.maxBatchTotalTokens) return false;
      if (!this.yielding.mayStart(a.priority, this.active.values(), now)) return false;
      prefill += prompt;
      this.reserved += a.cost;
      this.active.set(a.id, a);
      return true;
    });
    for (const a of admitted) {
      a.admittedAt = now;
      a.batchAtAdmission = this.active.size;
      try {
        this.runner.add({ id: a.id, promptIds: a.req.promptIds, sampling: a.req.sampling, adapter: a.req.adapter });
        a.inWorker = true;
      } catch (err) {
        this.fail(a, err as Error);
      }
    }
  }

  private leave(a: Active): boolean {
    if (a.done) return false;
    a.done = true;
    if (this.active.delete(a.id)) {
      this.reserved -= a.cost;
      this.yielding.left(a.priority, performance.now());
      if (a.admittedAt > 0) this.estimate.finished(performance.now() - a.admittedAt);
      // Capacity freed: the queue's head may fit now (also when the worker is idle). Queued
      // before the removal, so the admission is in the same message to the worker.
      queueMicrotask(() => this.schedule());
      if (a.inWorker) this.runner.remove(a.id);
      a.inWorker = false;
    }
    return true;
  }

  private finish(a: Active, reason: FinishReason): void {
    if (!this.leave(a)) return;
    const now = performance.now();
    if (a.firstAt !== undefined) this.observer?.finished(a.req.promptIds.length, a.generated, now - a.enqueuedAt);
    a.out.push({
      type: 'finish',
      reason,
      promptTokens: a.req.promptIds.length,
      completionTokens: a.generated,
      timings: {
        queueMs: a.firstAt === undefined ? now - a.enqueuedAt : a.admittedAt - a.enqueuedAt,
        timeToFirstTokenMs: a.firstAt === undefined ? 0 : a.firstAt - a.enqueuedAt,
        decodeMs: a.firstAt === undefined ? 0 : now - a.firstAt,
        totalMs: now - a.enqueuedAt,
      },
      batchSize: a.batchAtAdmission,
    });
    a.out.end();
  }

  private fail(a: Active, err: Error): void {
    if (this.leave(a)) a.out.end(err);
  }
}
