import { Code, ConnectError } from '@connectrpc/connect';
import type { GenerateRequest } from '@tokenmesh/proto';

import { type Balancer, createBalancer, type StrategyName } from '../balancers';
import type { Worker, WorkerPool } from '../pool';
import type { SplitPlan, VariantTarget } from '../traffic';
import { ChoiceGroups } from './choice-groups';

/**
 * Where one call may still go: the variant it is on now, the ones after it (a canary's stable
 * variant) and the workers it has tried on the current variant. The pick and retry steps share it.
 */
export class CallRoute {
  private readonly rest: VariantTarget[];
  target: VariantTarget;
  readonly tried = new Set<string>();

  constructor(targets: readonly VariantTarget[]) {
    this.rest = [...targets];
    this.target = this.rest.shift()!;
  }

  /** Whether a variant is left to fall back to. */
  get canFallBack(): boolean {
    return this.rest.length > 0;
  }

  /** Moves on to the next variant (the canary's stable one). */
  fallBack(): void {
    this.target = this.rest.shift()!;
  }
}

export interface PickerOptions {
  readonly pool: WorkerPool;
  /** Strategy for models the traffic config gives none. */
  readonly defaultStrategy: StrategyName;
  /** The current split plan, read at each step as the router always has. */
  readonly plan: () => SplitPlan | undefined;
  readonly random?: () => number;
}

/** What the pick step chose: the worker, and the balancer (its strategy goes on the span). */
export interface Pick {
  readonly worker: Worker;
  readonly balancer: Balancer;
}

/**
 * The pick step: the traffic split chooses the variant, then the model's balancing strategy
 * chooses a worker among the eligible ones the call has not tried. Balancer state (turns, rings)
 * lives here, one instance per target model and strategy.
 */
export class WorkerPicker {
  private readonly balancers = new Map<string, Balancer>();
  private readonly groups = new ChoiceGroups();

  constructor(private readonly opts: PickerOptions) {}

  /** The variants for this call, with the canary's fallback when it has one. */
  route(req: GenerateRequest): CallRoute {
    // The choices of one prompt take one variant: without a routing key, their group is the key.
    const route = this.opts.plan()?.route(req.model, req.routingKey || req.choiceGroup);
    if (!route) return new CallRoute([{ model: req.model, variant: '' }]);
    return new CallRoute(route.fallback ? [{ model: route.model, variant: route.variant }, route.fallback] : [{ model: route.model, variant: route.variant }]);
  }

  /**
   * The next worker for `route`, marked tried, preferring workers not known to be full; throws
   * NOT_FOUND (no worker ever served the model) or UNAVAILABLE (its workers are out for now).
   */
  pick(req: GenerateRequest, route: CallRoute): Pick {
    const { pool } = this.opts;
    let candidates = pool.eligible(route.target.model).filter((w) => !route.tried.has(w.id));
    // A canary nobody serves right now: its stable variant takes the request.
    while (candidates.length === 0 && route.tried.size === 0 && route.canFallBack) {
      route.fallBack();
      candidates = pool.eligible(route.target.model);
    }
    if (candidates.length === 0) throw this.noWorker(route.target.model);
    // Workers that just turned calls away go last: while any has room, it gets the call.
    const roomy = candidates.filter((w) => !pool.isFull(w));
    if (roomy.length > 0) candidates = roomy;
    const balancer = this.balancerFor(req.model, route.target.model);
    // A choice group's calls follow its first one (on a retry, wherever the balancer says).
    const grouped = req.choiceGroup && route.tried.size === 0 ? this.groups.placed(req.choiceGroup, candidates) : undefined;
    const worker = grouped ?? balancer.pick(candidates, req.routingKey);
    if (req.choiceGroup && !grouped && route.tried.size === 0) this.groups.remember(req.choiceGroup, req.choiceGroupSize, worker.id);
    route.tried.add(worker.id);
    return { worker, balancer };
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

  private noWorker(model: string): ConnectError {
    const { pool } = this.opts;
    if (!pool.knows(model) && pool.all.every((w) => w.announcement.models !== undefined)) {
      const served = pool.models().map((m) => `${m.name}@${m.version}`);
      return new ConnectError(`model: "${model}" is not served by any worker${served.length ? `; served: ${served.join(', ')}` : ''}`, Code.NotFound);
    }
    // Its workers may be back in a moment (restart, bus outage): a retryable answer, never NOT_FOUND.
    return new ConnectError(`no worker available for model "${model}" (all draining, ejected, unhealthy or silent)`, Code.Unavailable, { 'retry-after': '1' });
  }
}
