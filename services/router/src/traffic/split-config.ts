import { LineCounter, parseDocument } from 'yaml';
import { isStrategy, STRATEGIES, type StrategyName } from '../balancers';

/** Same rule as inference's model-repo: names and versions are directory-name safe. */
const MODEL_PART = /^[\w.-]+$/;
const VARIANT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

const TOP_KEYS = ['strategy', 'models'];
const SPLIT_KEYS = ['strategy', 'variants', 'shadow'];
const VARIANT_KEYS = ['name', 'model', 'weight', 'canary'];
const SHADOW_KEYS = ['model', 'percent'];

/** One weighted destination of a split. */
export interface Variant {
  /** Label reported to callers (e.g. `stable`, `candidate`); unique within its model. */
  readonly name: string;
  /** `name@version` that serves this variant; may be a different model than the split's key. */
  readonly model: string;
  /** Relative share of traffic, >= 0. */
  readonly weight: number;
  /** Requests that cannot be served by a canary fall back to the model's stable variant. */
  readonly canary: boolean;
}

/** A mirrored copy of a share of traffic whose output is discarded. */
export interface ShadowTarget {
  /** `name@version` that receives the copy. */
  readonly model: string;
  /** Share of requests mirrored, 0..100. */
  readonly percent: number;
}

/** How requests for one model name (no `@version`) are divided. */
export interface ModelSplit {
  /** Balancing strategy among the workers of the chosen variant; overrides the file's default. */
  readonly strategy?: StrategyName;
  /** In declared order: the order fixes which keys land in which variant. */
  readonly variants: readonly Variant[];
  readonly shadow?: ShadowTarget;
}

/** A validated traffic-split file (ROUTER_CONFIG_FILE). */
export interface TrafficConfig {
  /** Default balancing strategy for every model. */
  readonly strategy?: StrategyName;
  /** Keyed by model name; models not listed are not split. */
  readonly models: ReadonlyMap<string, ModelSplit>;
}

/** Thrown with every problem in a file, so one edit can fix all of them. */
export class TrafficConfigError extends Error {
  constructor(
    /** The file (or other label) the text came from. */
    readonly source: string,
    /** Each problem as `<path> <what is wrong>`, without the source. */
    readonly problems: readonly string[],
  ) {
    super(problems.map((p) => `${source}: ${p}`).join('\n'));
    this.name = 'TrafficConfigError';
  }
}

/**
 * Parses and validates a traffic-split file. An empty file, or one without `models`, is valid and
 * splits nothing.
 * @param source names the file in error messages.
 * @throws TrafficConfigError naming the source and the path of every problem found.
 */
export function parseTrafficConfig(text: string, source: string): TrafficConfig {
  const problems: string[] = [];
  const root = parseYaml(text, problems);
  const config = problems.length === 0 ? readTop(root, problems) : undefined;
  if (problems.length > 0 || config === undefined) throw new TrafficConfigError(source, problems);
  return config;
}

/** Plain data from YAML, with syntax errors recorded as `line L, column C: reason`. */
function parseYaml(text: string, problems: string[]): unknown {
  const lineCounter = new LineCounter();
  // Duplicate keys are errors (uniqueKeys), so a key repeated further down cannot silently win.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  for (const err of doc.errors) {
    const { line, col } = lineCounter.linePos(err.pos[0]);
    problems.push(`line ${line}, column ${col}: ${err.message}`);
  }
  if (problems.length > 0) return undefined;
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Unresolved or exploding aliases surface only when converting.
    problems.push(`invalid YAML: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

function readTop(root: unknown, problems: string[]): TrafficConfig {
  const models = new Map<string, ModelSplit>();
  if (root === null || root === undefined) return { models };
  if (!isMapping(root)) {
    problems.push(`the file must be a mapping with keys ${TOP_KEYS.join(', ')}, got ${describe(root)}`);
    return { models };
  }
  unknownKeys(root, TOP_KEYS, '', problems);
  const strategy = optionalStrategy(root.strategy, 'strategy', problems);
  // `models:` with every entry commented out reads as null; that means "no splits", not an error.
  if (root.models !== undefined && root.models !== null) {
    if (!isMapping(root.models)) {
      problems.push(`models must be a mapping of model name to split, got ${describe(root.models)}`);
    } else {
      for (const [name, value] of Object.entries(root.models)) {
        const path = `models${key(name)}`;
        if (!MODEL_PART.test(name)) {
          problems.push(`${path} must be a model name of letters, digits, _ . - and no @version, got ${JSON.stringify(name)}`);
        }
        const split = readSplit(value, path, problems);
        if (split) models.set(name, split);
      }
    }
  }
  return strategy === undefined ? { models } : { strategy, models };
}

function readSplit(value: unknown, path: string, problems: string[]): ModelSplit | undefined {
  if (!isMapping(value)) {
    problems.push(`${path} must be a mapping with keys ${SPLIT_KEYS.join(', ')}, got ${describe(value)}`);
    return undefined;
  }
  unknownKeys(value, SPLIT_KEYS, path, problems);
  const strategy = optionalStrategy(value.strategy, `${path}.strategy`, problems);
  const variants = readVariants(value.variants, `${path}.variants`, problems);
  const shadow = value.shadow === undefined || value.shadow === null ? undefined : readShadow(value.shadow, `${path}.shadow`, problems);
  return { ...(strategy !== undefined && { strategy }), variants, ...(shadow && { shadow }) };
}

function readVariants(value: unknown, path: string, problems: string[]): Variant[] {
  if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) {
    problems.push(`${path} must list at least one variant`);
    return [];
  }
  if (!Array.isArray(value)) {
    problems.push(`${path} must be a list of variants, got ${describe(value)}`);
    return [];
  }
  const variants: Variant[] = [];
  const seen = new Map<string, number>();
  value.forEach((item: unknown, i) => {
    const at = `${path}[${i}]`;
    const variant = readVariant(item, at, problems);
    if (!variant) return;
    const first = seen.get(variant.name);
    if (first !== undefined) {
      problems.push(`${at}.name ${JSON.stringify(variant.name)} is already used by variants[${first}]`);
    } else {
      seen.set(variant.name, i);
    }
    variants.push(variant);
  });
  // Whole-list rules only make sense once every entry parsed; otherwise they repeat the entry's error.
  if (variants.length === value.length) {
    const total = variants.reduce((sum, v) => sum + v.weight, 0);
    if (total === 0) problems.push(`${path} weights must add up to more than 0, got all 0`);
    else if (!Number.isFinite(total)) problems.push(`${path} weights must add up to a finite number`);
    if (variants.every((v) => v.canary)) {
      problems.push(`${path} has only canary variants; at least one must have canary: false, to fall back to`);
    }
  }
  return variants;
}

function readVariant(value: unknown, path: string, problems: string[]): Variant | undefined {
  if (!isMapping(value)) {
    problems.push(`${path} must be a mapping with keys ${VARIANT_KEYS.join(', ')}, got ${describe(value)}`);
    return undefined;
  }
  const before = problems.length;
  unknownKeys(value, VARIANT_KEYS, path, problems);
  const { name, model, weight, canary = false } = value;
  if (typeof name !== 'string' || !VARIANT_NAME.test(name)) {
    problems.push(`${path}.name must be 1 to 64 of A-Z a-z 0-9 . _ -, got ${describe(name)}`);
  }
  checkModelId(model, `${path}.model`, problems);
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
    problems.push(`${path}.weight must be a number >= 0, got ${describe(weight)}`);
  }
  if (typeof canary !== 'boolean') problems.push(`${path}.canary must be true or false, got ${describe(canary)}`);
  if (problems.length > before) return undefined;
  return { name: name as string, model: model as string, weight: weight as number, canary: canary as boolean };
}

function readShadow(value: unknown, path: string, problems: string[]): ShadowTarget | undefined {
  if (!isMapping(value)) {
    problems.push(`${path} must be a mapping with keys ${SHADOW_KEYS.join(', ')}, got ${describe(value)}`);
    return undefined;
  }
  const before = problems.length;
  unknownKeys(value, SHADOW_KEYS, path, problems);
  checkModelId(value.model, `${path}.model`, problems);
  const { percent } = value;
  if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) {
    problems.push(`${path}.percent must be a number from 0 to 100, got ${describe(percent)}`);
  }
  if (problems.length > before) return undefined;
  return { model: value.model as string, percent: percent as number };
}

function checkModelId(value: unknown, path: string, problems: string[]): void {
  const parts = typeof value === 'string' ? value.split('@') : [];
  if (parts.length !== 2 || !parts.every((p) => MODEL_PART.test(p))) {
    problems.push(`${path} must be name@version, e.g. tinygpt@1, got ${describe(value)}`);
  }
}

function optionalStrategy(value: unknown, path: string, problems: string[]): StrategyName | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && isStrategy(value)) return value;
  problems.push(`${path} must be one of ${STRATEGIES.join(', ')}, got ${describe(value)}`);
  return undefined;
}

/** Rejects keys outside `allowed`: a misspelt `wieght` must not silently become the default. */
function unknownKeys(value: Record<string, unknown>, allowed: readonly string[], path: string, problems: string[]): void {
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) problems.push(`${path}${key(k)} is not a known key (expected one of ${allowed.join(', ')})`.replace(/^\./, ''));
  }
}

/** `.name` when the key reads unambiguously in a dotted path, `["odd key"]` otherwise. */
function key(k: string): string {
  return /^[\w-]+$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value as the user wrote it, short enough for a one-line message. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return String(value);
}
