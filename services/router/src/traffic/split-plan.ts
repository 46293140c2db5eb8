import { hashString, type StrategyName } from '../balancers';
import type { ModelSplit, TrafficConfig } from './split-config';

/** Seeds keep the variant draw and the shadow draw independent for the same key. */
const VARIANT_SEED = 0;
const SHADOW_SEED = 0x9e3779b9;
const TWO_TO_32 = 2 ** 32;

/** A variant a request is sent to. */
export interface VariantTarget {
  /** `name@version` to serve the request. */
  readonly model: string;
  /** The variant's label, for responses, logs and metrics. */
  readonly variant: string;
}

/** Where one request goes; `fallback` only for canaries. */
export interface Route extends VariantTarget {
  /** The stable variant to use when the canary has no worker or fails before its first token. */
  readonly fallback?: VariantTarget;
}

/** Options for {@link SplitPlan}. */
export interface SplitPlanOptions {
  /** Draws for requests without a routing key; [0, 1). Defaults to Math.random. */
  readonly random?: () => number;
}

interface CompiledSplit {
  readonly split: ModelSplit;
  /** Running totals of weights in declared order; the last is the total. */
  readonly cumulative: readonly number[];
  readonly fallback: VariantTarget | undefined;
}

/**
 * The routing decisions of one {@link TrafficConfig}: which variant a request for a model name
 * goes to, whether it is mirrored, and which balancing strategy applies. Immutable; build a new
 * plan when the config changes.
 */
export class SplitPlan {
  private readonly splits = new Map<string, CompiledSplit>();
  private readonly random: () => number;

  constructor(
    private readonly config: TrafficConfig,
    options: SplitPlanOptions = {},
  ) {
    this.random = options.random ?? Math.random;
    for (const [name, split] of config.models) this.splits.set(name, compile(split));
  }

  /** Per target model (as the variants name it), the splits' variants that route to it. */
  shares(): Map<string, { model: string; variant: string; weight: number; totalWeight: number }[]> {
    const out = new Map<string, { model: string; variant: string; weight: number; totalWeight: number }[]>();
    for (const [name, { split, cumulative }] of this.splits) {
      const totalWeight = cumulative[cumulative.length - 1] ?? 0;
      for (const v of split.variants) out.set(v.model, [...(out.get(v.model) ?? []), { model: name, variant: v.name, weight: v.weight, totalWeight }]);
    }
    return out;
  }

  /**
   * The variant for a request. The same `key` (e.g. a session or user id) always gets the same
   * variant while the weights stay put, and raising a later variant's weight only moves keys into
   * it. An empty key draws at random.
   * @returns undefined when `model` names a version (`x@1`) or has no split: route it as given.
   */
  route(model: string, key: string): Route | undefined {
    const compiled = this.splits.get(model);
    if (!compiled) return undefined;
    const { split, cumulative, fallback } = compiled;
    const target = this.point(model, key, VARIANT_SEED) * cumulative[cumulative.length - 1]!;
    // Buckets in declared order: variant i owns [cumulative[i-1], cumulative[i]); a zero weight owns nothing.
    let index = cumulative.findIndex((end) => target < end);
    if (index < 0) index = lastWithWeight(split); // float rounding at the very top of the range
    const v = split.variants[index]!;
    const chosen = { model: v.model, variant: v.name };
    return v.canary && fallback ? { ...chosen, fallback } : chosen;
  }

  /**
   * The model to mirror a request to, for the split's shadow percentage of keys (an empty key draws
   * at random). Drawn independently of {@link route}, so the mirrored share of each variant is
   * the same.
   * @returns undefined when not mirrored, or when `model` names a version or has no split.
   */
  shadow(model: string, key: string): string | undefined {
    const shadow = this.splits.get(model)?.split.shadow;
    if (!shadow) return undefined;
    return this.point(model, key, SHADOW_SEED) * 100 < shadow.percent ? shadow.model : undefined;
  }

  /**
   * The balancing strategy for a model: its split's, else the file's default, else undefined (the
   * router's own default). `name@version` looks up `name`, so a variant's model resolves too.
   */
  strategyFor(model: string): StrategyName | undefined {
    const at = model.indexOf('@');
    const name = at < 0 ? model : model.slice(0, at);
    return this.config.models.get(name)?.strategy ?? this.config.strategy;
  }

  /** A point in [0, 1): hashed from model and key when there is a key, random otherwise. */
  private point(model: string, key: string, seed: number): number {
    if (key === '') return this.random();
    // The model name is part of the input so one key's draws differ between models' splits.
    return hashString(`${model}\0${key}`, seed) / TWO_TO_32;
  }
}

function compile(split: ModelSplit): CompiledSplit {
  let total = 0;
  const cumulative = split.variants.map((v) => (total += v.weight));
  // Highest weight wins; the earlier one on ties, so the choice does not depend on sort stability.
  let stable: VariantTarget | undefined;
  let best = -1;
  for (const v of split.variants) {
    if (!v.canary && v.weight > best) {
      best = v.weight;
      stable = { model: v.model, variant: v.name };
    }
  }
  return { split, cumulative, fallback: stable };
}

function lastWithWeight(split: ModelSplit): number {
  for (let i = split.variants.length - 1; i >= 0; i--) if (split.variants[i]!.weight > 0) return i;
  return split.variants.length - 1;
}
