import { trace } from '@opentelemetry/api';
import type { GenerateRequest, GenerateResponse } from '@tokenmesh/proto';
import { ATTR, fingerprint } from '@tokenmesh/telemetry';

import type { StrategyName } from '../balancers';
import { RetryBudget, type WorkerPool } from '../pool';
import type { RouterMetrics } from '../router-metrics';
import type { SplitPlan } from '../traffic';
import { type Attempt, attempt, type CallContext } from './attempt';
import { WorkerPicker } from './pick';
import { RetryPolicy } from './retry';
import type { ShadowRunner } from './shadow-runner';

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

/**
 * Chooses a worker for each Generate call and relays its stream, in three steps per attempt:
 * pick (traffic split chooses the variant, the model's balancing strategy the worker), attempt
 * (one call to that worker), retry (record the outcome; end the call, fail it, or go round again).
 * A failure before the first token is retried once on another worker (or the canary's stable
 * variant) while the retry budget allows; after tokens went out it ends the stream with
 * UNAVAILABLE — a second worker would generate a different continuation, so splicing would
 * corrupt the text.
 */
export class TrafficRouter {
  private readonly picker: WorkerPicker;
  private readonly retries: RetryPolicy;

  constructor(private readonly opts: TrafficRouterOptions) {
    this.picker = new WorkerPicker(opts);
    this.retries = new RetryPolicy({ pool: opts.pool, budget: opts.budget ?? new RetryBudget(), metrics: opts.metrics });
  }

  /**
   * Serves one Generate call: the router's GenerationService.generate, or with `run` the frame
   * relay's (its messages are the worker's gRPC frames, passed on undecoded).
   */
  generate(req: GenerateRequest, ctx: CallContext): AsyncGenerator<GenerateResponse>;
  generate<T>(req: GenerateRequest, ctx: CallContext, run: Attempt<T>): AsyncGenerator<T>;
  async *generate<T>(req: GenerateRequest, ctx: CallContext, run: Attempt<T> = attempt as unknown as Attempt<T>): AsyncGenerator<T> {
    const received = performance.now();
    const span = trace.getActiveSpan();
    const { metrics } = this.opts;
    const route = this.picker.route(req);
    const shadowModel = this.opts.plan()?.shadow(req.model, req.routingKey);
    this.retries.request();
    span?.setAttributes({ [ATTR.model]: req.model, ...(req.routingKey ? { [ATTR.routingKey]: fingerprint(req.routingKey) } : {}) });

    for (let retries = 0; ; retries++) {
      const { worker, balancer } = this.picker.pick(req, route);
      const target = route.target;
      span?.setAttributes({ [ATTR.strategy]: balancer.strategy, [ATTR.worker]: worker.id, [ATTR.variant]: target.variant, [ATTR.retries]: retries });
      if (retries === 0) {
        metrics?.pick.observe((performance.now() - received) / 1000);
        metrics?.variants.inc({ model: req.model, variant: target.variant });
        if (shadowModel) this.opts.shadows?.mirror(req, shadowModel);
      }
      const result = yield* run(worker, req, target, ctx);
      if (!this.retries.shouldRetry(worker, result, route, retries, ctx.signal)) return;
    }
  }
}
