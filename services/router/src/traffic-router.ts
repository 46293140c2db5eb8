import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import { trace } from '@opentelemetry/api';
import type { GenerateRequest, GenerateResponse } from '@tokenmesh/proto';
import { ATTR, fingerprint } from '@tokenmesh/telemetry';
import { createBalancer, type Balancer, type StrategyName } from './balancers';
import { RetryBudget, type Worker, type WorkerPool } from './pool';
import type { RouterMetrics } from './router-metrics';
import { ShadowRunner } from './shadow-runner';
import type { SplitPlan } from './traffic';

/** Response header naming the traffic-split variant (also in GenerateResponse.variant). */
export const VARIANT_HEADER = 'x-tokenmesh-variant';
export const WORKER_HEADER = 'x-tokenmesh-worker';

/** Codes that say the worker (or the path to it) failed, not the request: count toward ejection. */
const WORKER_FAILURES = new Set([Code.Unavailable, Code.Unknown, Code.Internal, Code.DataLoss, Code.Canceled, Code.Aborted]);
/** Worth one more try elsewhere while nothing has reached the caller: worker failures and a full queue. */
const RETRIABLE = new Set([...WORKER_FAILURES, Code.ResourceExhausted, Code.NotFound]);

export interface TrafficRouterOptions {
  readonly pool: WorkerPool;
  /** Strategy for models the traffic config gives none. */
  readonly defaultStrategy: StrategyName;
  /** The current split plan; read per request so a reload applies to the next request only. */
  readonly plan: () => SplitPlan | undefined;
  readonly metrics?: RouterMetrics;
  readonly budget?: RetryBudget;
  readonly shadows?: ShadowRunner;
  /** Injected for deterministic tests of P2C and empty-key splits. */
  readonly random?: () => number;
}

interface Target {
  readonly model: string;
  readonly variant: string;
}

/**
 * Chooses a worker for each Generate call and relays its stream: traffic split (variant), then
 * the model's balancing strategy over eligible workers. A failure before the first token is
 * retried once on another worker (or the canary's stable variant) while the retry budget allows;
 * after tokens went out it ends the stream with UNAVAILABLE — a second worker would generate a
 * different continuation, so splicing would corrupt the text.
 */
export class TrafficRouter {
  private readonly balancers = new Map<string, Balancer>();
  private readonly budget: RetryBudget;

  constructor(private readonly opts: TrafficRouterOptions) {
    this.budget = opts.budget ?? new RetryBudget();
  }

  /** The strategy and balancer state for requests that asked for `requested`. */
  private balancerFor(requested: string, target: string): Balancer {
    const name = requested.split('@')[0]!;
    const strategy = this.opts.plan()?.strategyFor(name) ?? this.opts.defaultStrategy;
    const key = `${target}\0${strategy}`;
    let b = this.balancers.get(key);
    if (!b) {
      b = createBalancer(strategy, { random: this.opts.random });
      this.balancers.set(key, b);
    }
    return b;
  }

  /** Variant chosen for this call, with the canary's fallback when it has one. */
  private targets(req: GenerateRequest): Target[] {
    const route = this.opts.plan()?.route(req.model, req.routingKey);
    if (!route) return [{ model: req.model, variant: '' }];
    return route.fallback ? [{ model: route.model, variant: route.variant }, route.fallback] : [{ model: route.model, variant: route.variant }];
  }

  private noWorker(model: string): ConnectError {
    const { pool } = this.opts;
    if (!pool.knows(model) && pool.all.every((w) => w.announcement.models !== undefined)) {
      const served = pool.models().map((m) => `${m.name}@${m.version}`);
      return new ConnectError(`model: "${model}" is not served by any worker${served.length ? `; served: ${served.join(', ')}` : ''}`, Code.NotFound);
    }
    return new ConnectError(`no worker available for model "${model}" (all draining, ejected, unhealthy or silent)`, Code.Unavailable, { 'retry-after': '1' });
  }

  /** Serves one Generate call (the router's GenerationService.generate). */
  async *generate(req: GenerateRequest, ctx: HandlerContext): AsyncGenerator<GenerateResponse> {
    const received = performance.now();
    const span = trace.getActiveSpan();
    const { pool, metrics } = this.opts;
    const targets = this.targets(req);
    let target = targets.shift()!;
    const shadowModel = this.opts.plan()?.shadow(req.model, req.routingKey);
    const tried = new Set<string>();
    this.budget.request();
    let retries = 0;
    span?.setAttributes({ [ATTR.model]: req.model, ...(req.routingKey ? { [ATTR.routingKey]: fingerprint(req.routingKey) } : {}) });

    for (;;) {
      let candidates = pool.eligible(target.model).filter((w) => !tried.has(w.id));
      // A canary nobody serves right now: its stable variant takes the request.
      while (candidates.length === 0 && tried.size === 0 && targets.length > 0) {
        target = targets.shift()!;
        candidates = pool.eligible(target.model);
      }
      if (candidates.length === 0) throw this.noWorker(target.model);
      const balancer = this.balancerFor(req.model, target.model);
      const worker = balancer.pick(candidates, req.routingKey);
      tried.add(worker.id);
      span?.setAttributes({ [ATTR.strategy]: balancer.strategy, [ATTR.worker]: worker.id, [ATTR.variant]: target.variant, [ATTR.retries]: retries });
      if (retries === 0) {
        metrics?.pick.observe((performance.now() - received) / 1000);
        metrics?.variants.inc({ model: req.model, variant: target.variant });
        if (shadowModel) this.opts.shadows?.mirror(req, shadowModel);
      }

      let sent = 0;
      let failure: ConnectError | undefined;
      worker.acquire();
      try {
        const stream = worker.client.generate({ ...req, model: target.model }, { signal: ctx.signal, timeoutMs: ctx.timeoutMs(), headers: forwardedHeaders(ctx.requestHeader) });
        for await (const m of stream) {
          if (sent === 0) {
            ctx.responseHeader.set(VARIANT_HEADER, target.variant);
            ctx.responseHeader.set(WORKER_HEADER, worker.id);
          }
          sent++;
          m.variant = target.variant;
          yield m;
        }
      } catch (err) {
        failure = ConnectError.from(err);
      } finally {
        worker.release();
      }
      if (!failure) {
        this.record(worker, undefined);
        return;
      }
      // The caller cancelled or its deadline passed: nobody's fault, nothing to retry.
      if (ctx.signal.aborted) {
        metrics?.attempts.inc({ worker: worker.id, code: 'canceled' });
        throw failure;
      }
      const workerFailed = WORKER_FAILURES.has(failure.code);
      this.record(worker, failure.code, workerFailed);
      if (sent > 0) {
        if (!workerFailed) throw failure;
        throw new ConnectError(`worker ${worker.id} failed after ${sent} streamed messages: ${failure.rawMessage}`, Code.Unavailable);
      }
      if (!RETRIABLE.has(failure.code) || retries > 0 || !this.budget.tryRetry()) throw failure;
      // The canary failed: its stable variant gets the retry.
      if (targets.length > 0) {
        target = targets.shift()!;
        tried.clear();
        tried.add(worker.id);
      }
      if (pool.eligible(target.model).every((w) => tried.has(w.id))) throw failure;
      retries++;
      metrics?.retries.inc({ worker: worker.id });
    }
  }

  /** One attempt's outcome (`code` undefined: it succeeded) for metrics and outlier detection. */
  private record(w: Worker, code: Code | undefined, workerFailed = false): void {
    const { metrics, pool } = this.opts;
    metrics?.attempts.inc({ worker: w.id, code: code === undefined ? 'ok' : codeToString(code) });
    if (code === undefined) pool.outcome(w, true);
    if (!workerFailed) return;
    metrics?.failures.inc({ worker: w.id });
    if (pool.outcome(w, false)) metrics?.ejections.inc({ worker: w.id });
  }
}

// Trace context is re-injected by the client interceptor; request ids and keys travel in fields.
const FORWARDED = ['x-request-id'];

function forwardedHeaders(h: Headers): Headers {
  const out = new Headers();
  for (const name of FORWARDED) {
    const v = h.get(name);
    if (v) out.set(name, v);
  }
  return out;
}
