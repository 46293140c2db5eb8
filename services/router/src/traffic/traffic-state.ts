import type { ModelSplit, TrafficConfig } from './split-config';
import { SplitPlan } from './split-plan';

/** One model's split as callers see it, and where it comes from. */
export interface SplitView {
  readonly model: string;
  /** None: not split. */
  readonly split?: ModelSplit;
  readonly changedAtRunTime: boolean;
}

/**
 * The traffic splits in force: the file's (ROUTER_CONFIG_FILE, reloaded on change) with run-time
 * changes (TrafficService.SetTraffic) laid over it, per model. A run-time change stays over later
 * file reloads until it is cleared; every change makes a new SplitPlan, which the router reads
 * per request, so streams already routed keep their variant.
 */
export class TrafficState {
  private file: TrafficConfig = { models: new Map() };
  private readonly overrides = new Map<string, ModelSplit>();
  private current: SplitPlan | undefined;

  constructor(file?: TrafficConfig) {
    if (file) this.setFile(file);
  }

  get plan(): SplitPlan | undefined {
    return this.current;
  }

  setFile(config: TrafficConfig): void {
    this.file = config;
    this.rebuild();
  }

  /** Replaces (split) or clears (undefined) the run-time change of one model; returns both views. */
  set(model: string, split: ModelSplit | undefined): { before: SplitView; after: SplitView } {
    const before = this.view(model);
    if (split) this.overrides.set(model, split);
    else this.overrides.delete(model);
    this.rebuild();
    return { before, after: this.view(model) };
  }

  view(model: string): SplitView {
    const o = this.overrides.get(model);
    const split = o ?? this.file.models.get(model);
    return { model, ...(split && { split }), changedAtRunTime: o !== undefined };
  }

  /** Every split model, by name. */
  views(): SplitView[] {
    return [...new Set([...this.file.models.keys(), ...this.overrides.keys()])].sort().map((m) => this.view(m));
  }

  private rebuild(): void {
    const models = new Map(this.file.models);
    for (const [m, s] of this.overrides) models.set(m, s);
    const empty = models.size === 0 && this.file.strategy === undefined;
    this.current = empty ? undefined : new SplitPlan({ ...(this.file.strategy && { strategy: this.file.strategy }), models });
  }
}
