import type { Sampling } from '@tokenmesh/model';
import { AsyncQueue } from './async-queue';
import type { ModelRunner } from './model-runner';

export type FinishReason = 'length' | 'eos' | 'stop' | 'cancelled';

export interface GenerationRequest {
  readonly id: string;
  readonly promptIds: readonly number[];
  readonly sampling: Sampling;
  /** Aborting ends the stream with finish reason `cancelled` and frees the sequence at once. */
  readonly signal?: AbortSignal;
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

interface Active {
  readonly req: GenerationRequest;
  readonly out: AsyncQueue<GenerationEvent>;
  readonly submitted: number;
  firstAt: number | undefined;
  queueMs: number;
  generated: number;
  done: boolean;
}

/**
 * Drives one model's worker: sequences join between steps (the worker prefills them in the next
 * step), every step yields one token per sequence, finished or cancelled sequences leave before
 * the next step. Batching several sequences into one forward pass is the scheduler's job (later).
 */
export class Engine {
  private readonly active = new Map<string, Active>();
  private loop: Promise<void> | undefined;

  constructor(private readonly runner: ModelRunner) {}

  get running(): number {
    return this.active.size;
  }

  /** Streams the tokens of one request, then one finish event. */
  generate(req: GenerationRequest): AsyncIterable<GenerationEvent> {
    if (this.active.has(req.id)) throw new Error(`request id ${req.id} is already running`);
    const a: Active = { req, out: new AsyncQueue(), submitted: performance.now(), firstAt: undefined, queueMs: 0, generated: 0, done: false };
    this.active.set(req.id, a);
    const onAbort = () => this.finish(a, 'cancelled');
    if (req.signal?.aborted) onAbort();
    else {
      req.signal?.addEventListener('abort', onAbort, { once: true });
      this.runner.add({ id: req.id, promptIds: req.promptIds, sampling: req.sampling }).catch((e: Error) => this.fail(a, e));
      this.loop ??= this.run().finally(() => (this.loop = undefined));
    }
    return a.out;
  }

  private async run(): Promise<void> {
    while (this.active.size > 0) {
      const started = performance.now();
      let result;
      try {
        result = await this.runner.step();
      } catch (err) {
        for (const a of this.active.values()) this.fail(a, err as Error);
        return;
      }
      for (const t of result.tokens) {
        const a = this.active.get(t.id);
        if (!a || a.done) continue;
        if (a.firstAt === undefined) {
          a.firstAt = performance.now();
          a.queueMs = Math.max(0, started - a.submitted);
        }
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

  private finish(a: Active, reason: FinishReason): void {
    if (a.done) return;
    a.done = true;
    this.active.delete(a.req.id);
    // Ordered after any pending step, so the sequence is gone before the next one.
    this.runner.remove(a.req.id).catch(() => undefined);
    const now = performance.now();
    a.out.push({
      type: 'finish',
      reason,
      promptTokens: a.req.promptIds.length,
      completionTokens: a.generated,
      timings: {
        queueMs: a.queueMs,
        timeToFirstTokenMs: a.firstAt === undefined ? 0 : a.firstAt - a.submitted,
        decodeMs: a.firstAt === undefined ? 0 : now - a.firstAt,
        totalMs: now - a.submitted,
      },
    });
    a.out.end();
  }

  private fail(a: Active, err: Error): void {
    if (a.done) return;
    a.done = true;
    this.active.delete(a.req.id);
    a.out.end(err);
  }
}
