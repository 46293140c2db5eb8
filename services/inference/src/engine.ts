import type { Sampling } from '@tokenmesh/model';
import { AsyncQueue } from './async-queue';
import { DEFAULT_LIMITS, QueueDeadlineError, RequestTooLargeError, type EngineLimits } from './engine-limits';
import type { EngineObserver } from './engine-metrics';
import type { ModelRunner } from './model-runner';
import { RequestQueue, type Queued } from './request-queue';

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
}

export interface TokenEvent {
  readonly type: 'token';
  readonly tokenId: number;
  readonly logprob: number;
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
}

export type GenerationEvent = TokenEvent | FinishEvent;

interface Active extends Queued {
  readonly req: GenerationRequest;
  readonly out: AsyncQueue<GenerationEvent>;
  /** KV tokens reserved while it runs: prompt + max_tokens. */
  readonly cost: number;
  firstAt: number | undefined;
  lastAt: number;
  queueMs: number;
  generated: number;
  done: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Engine behaviour that is not an admission limit. */
export interface EngineOptions {
  /**
   * Awaited after every batch step, before its tokens go out (INFERENCE_STEP_DELAY_MS): the
   * worker behaves like slower hardware, for router benchmarks and tests. Default 0.
   */
  readonly stepDelayMs?: number;
}

/**
 * Drives one model's worker. Requests wait in the queue (the single owner of waiting state);
 * between steps the engine admits as many as the limits allow (batch size, prefill tokens, KV
 * budget), the worker prefills them in the next step and decodes every running sequence in one
 * pass; finished or cancelled sequences leave before the next step (continuous batching).
 */
export class Engine {
  private readonly active = new Map<string, Active>();
  private readonly waiting: RequestQueue<Active>;
  private reserved = 0;
  private loop: Promise<void> | undefined;
  /** Smoothed request duration, the retry hint given when the queue is full. */
  private typicalMs = 1000;

  constructor(
    private readonly runner: ModelRunner,
    readonly limits: EngineLimits = DEFAULT_LIMITS,
    private readonly observer?: EngineObserver,
    private readonly options: EngineOptions = {},
  ) {
    this.waiting = new RequestQueue<Active>(limits.maxQueueSize, () => this.typicalMs);
  }

  /** Requests admitted to the worker. */
  get running(): number {
    return this.active.size;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** KV tokens reserved by running requests, of kvBudget. */
  get kvReserved(): number {
    return this.reserved;
  }

  get kvBudget(): number {
    return this.limits.maxBatchTotalTokens;
  }

  /**
   * Streams the tokens of one request, then one finish event.
   * @throws QueueFullError at once when the queue is full; RequestTooLargeError when the request
   * could never fit the limits.
   */
  generate(req: GenerationRequest): AsyncIterable<GenerationEvent> {
    if (this.active.has(req.id) || this.waiting.has(req.id)) throw new Error(`request id ${req.id} is already running or queued`);
    const prompt = req.promptIds.length;
    const cost = prompt + req.sampling.maxTokens;
    if (prompt > this.limits.maxBatchPrefillTokens) {
      throw new RequestTooLargeError('prompt', `${prompt} tokens exceed this worker's prefill budget of ${this.limits.maxBatchPrefillTokens}`);
    }
    if (cost > this.limits.maxBatchTotalTokens) {
      throw new RequestTooLargeError('max_tokens', `prompt + max_tokens = ${cost} tokens exceed this worker's KV budget of ${this.limits.maxBatchTotalTokens}`);
    }
    const now = performance.now();
    const a: Active = {
      id: req.id,
      priority: req.priority ?? 0,
      deadline: req.deadline,
      enqueuedAt: now,
      req,
      out: new AsyncQueue(),
      cost,
      firstAt: undefined,
      lastAt: 0,
      queueMs: 0,
      generated: 0,
      done: false,
    };
    this.waiting.push(a);
    // Free capacity is used at once (the worker prefills it at its next step), so the queue only
    // holds what cannot run yet; when idle with a batching window, arrivals gather first.
    if (this.limits.maxQueueDelayMs === 0 || this.active.size > 0) this.admit();
    const onAbort = () => {
      this.waiting.remove(a.id);
      this.finish(a, 'cancelled');
    };
    if (req.signal?.aborted) onAbort();
    else req.signal?.addEventListener('abort', onAbort, { once: true });
    this.kick();
    return a.out;
  }

  private kick(): void {
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
      if (this.active.size > 0 || this.waiting.size > 0) this.kick();
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      for (const late of this.waiting.expire(performance.now())) this.fail(late, new QueueDeadlineError(performance.now() - late.enqueuedAt));
      if (this.active.size === 0) {
        const oldest = this.waiting.oldest();
        if (!oldest) return;
        // Idle: give simultaneous arrivals a moment to form one prefill batch.
        const wait = oldest.enqueuedAt + this.limits.maxQueueDelayMs - performance.now();
        if (wait > 0 && this.waiting.size < this.limits.maxBatchSize) {
          await sleep(wait);
          continue;
        }
      }
      this.admit();
      if (this.active.size === 0) return;
      const started = performance.now();
      let result;
      try {
        result = await this.runner.step();
      } catch (err) {
        for (const a of this.active.values()) this.fail(a, err as Error);
        return;
      }
      this.observer?.step(result.prefillMs, result.decodeMs, result.decodeBatch, result.prefillBatch);
      // A timer, not a busy wait: the thread keeps serving RPCs and the worker stays idle, so
      // token latencies (measured below) grow as on slower hardware while step metrics stay real.
      if (this.options.stepDelayMs) await sleep(this.options.stepDelayMs);
      const now = performance.now();
      for (const t of result.tokens) {
        const a = this.active.get(t.id);
        if (!a || a.done) continue;
        if (a.firstAt === undefined) {
          a.firstAt = now;
          a.queueMs = Math.max(0, started - a.enqueuedAt);
          this.observer?.firstToken(a.queueMs, now - a.enqueuedAt);
        } else this.observer?.token(now - a.lastAt);
        a.lastAt = now;
        a.generated++;
        const { sampling } = a.req;
        if (this.runner.spec.eosTokenIds.includes(t.token)) this.finish(a, 'eos');
        else if (sampling.stopTokenIds.includes(t.token)) this.finish(a, 'stop');
        else {
          a.out.push({ type: 'token', tokenId: t.token, logprob: t.logprob });
          if (a.generated >= sampling.maxTokens) this.finish(a, 'length');
        }
      }
    }
  }

  /** Moves waiting requests into the worker while the limits allow. */
  private admit(): void {
    let prefill = 0;
    const admitted = this.waiting.take((a) => {
      const prompt = a.req.promptIds.length;
      if (this.active.size >= this.limits.maxBatchSize) return false;
      if (prefill + prompt > this.limits.maxBatchPrefillTokens) return false;
      if (this.reserved + a.cost > this.limits.maxBatchTotalTokens) return false;
      prefill += prompt;
      this.reserved += a.cost;
      this.active.set(a.id, a);
      return true;
    });
    for (const a of admitted) {
      this.runner.add({ id: a.id, promptIds: a.req.promptIds, sampling: a.req.sampling }).catch((e: Error) => this.fail(a, e));
    }
  }

  private leave(a: Active): boolean {
    if (a.done) return false;
    a.done = true;
    if (this.active.delete(a.id)) {
      this.reserved -= a.cost;
      // Ordered after any pending step, so the sequence is gone before the next one.
      this.runner.remove(a.id).catch(() => undefined);
    }
    return true;
  }

  private finish(a: Active, reason: FinishReason): void {
    if (!this.leave(a)) return;
    const now = performance.now();
    this.typicalMs = 0.9 * this.typicalMs + 0.1 * (now - a.enqueuedAt);
    if (a.firstAt !== undefined) this.observer?.finished(a.req.promptIds.length, a.generated, now - a.enqueuedAt);
    a.out.push({
      type: 'finish',
      reason,
      promptTokens: a.req.promptIds.length,
      completionTokens: a.generated,
      timings: {
        queueMs: a.firstAt === undefined ? now - a.enqueuedAt : a.queueMs,
        timeToFirstTokenMs: a.firstAt === undefined ? 0 : a.firstAt - a.enqueuedAt,
        decodeMs: a.firstAt === undefined ? 0 : now - a.firstAt,
        totalMs: now - a.enqueuedAt,
      },
    });
    a.out.end();
  }

  private fail(a: Active, err: Error): void {
    if (this.leave(a)) a.out.end(err);
  }
}
