import { describeValue, type Field, type FieldReader, Problems, readValue } from '@tokenmesh/config';
import { LineCounter, parseDocument } from 'yaml';

import { STRATEGIES, type StrategyName } from '../balancers';

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
  const problems = new Problems();
  const root = parseYaml(text, problems);
  // YAML: a key with nothing after it is null, and null is a value to reject like any other.
  const config = problems.size === 0 ? readTop(readValue(root, { problems, show: describeValue, nullIsAbsent: false })) : undefined;
  if (problems.size > 0 || config === undefined) throw new TrafficConfigError(source, problems.lines());
  return config;
}

/** Plain data from YAML, with syntax errors recorded as `line L, column C: reason`. */
function parseYaml(text: string, problems: Problems): unknown {
  const lineCounter = new LineCounter();
  // Duplicate keys are errors (uniqueKeys), so a key repeated further down cannot silently win.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  for (const err of doc.errors) {
    const { line, col } = lineCounter.linePos(err.pos[0]);
    problems.add('', `line ${line}, column ${col}: ${err.message}`);
  }
  if (problems.size > 0) return undefined;
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Unresolved or exploding aliases surface only when converting.
    problems.add('', `invalid YAML: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

function readTop(file: Field): TrafficConfig {
  const models = new Map<string, ModelSplit>();
  if (file.value === null || file.value === undefined) return { models };
  const top = file.object({ message: `the file must be a mapping with keys ${TOP_KEYS.join(', ')}, got ${describeValue(file.value)}` });
  if (!top) return { models };
  top.unknownKeys(TOP_KEYS);
  const strategy = top.oneOf('strategy', STRATEGIES);
  // `models:` with every entry commented out reads as null; that means "no splits", not an error.
  const listed = top.field('models');
  const splits = listed.value === null ? undefined : listed.object({ want: 'a mapping of model name to split' });
  for (const name of splits?.keys() ?? []) {
    const entry = splits!.field(name);
    if (!MODEL_PART.test(name)) entry.problem(`must be a model name of letters, digits, _ . - and no @version, got ${JSON.stringify(name)}`);
    const split = readSplit(entry);
    if (split) models.set(name, split);
  }
  return strategy === undefined ? { models } : { strategy, models };
}

function readSplit(entry: Field): ModelSplit | undefined {
  const split = entry.object({ want: `a mapping with keys ${SPLIT_KEYS.join(', ')}`, required: true });
  if (!split) return undefined;
  split.unknownKeys(SPLIT_KEYS);
  const strategy = split.oneOf('strategy', STRATEGIES);
  const variants = readVariants(split.field('variants'));
  const listed = split.field('shadow');
  const shadow = listed.value === undefined || listed.value === null ? undefined : readShadow(listed);
  return { ...(strategy !== undefined && { strategy }), variants, ...(shadow && { shadow }) };
}

function readVariants(list: Field): Variant[] {
  const value = list.value;
  if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) {
    list.problem('must list at least one variant');
    return [];
  }
  const items = list.list({ want: 'a list of variants' });
  if (!items) return [];
  const variants: Variant[] = [];
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const fields = item.object({ want: `a mapping with keys ${VARIANT_KEYS.join(', ')}`, required: true });
    const variant = fields && readVariant(fields);
    if (!variant) return;
    const first = seen.get(variant.name);
    if (first !== undefined) {
      fields.problem('name', `${JSON.stringify(variant.name)} is already used by variants[${first}]`);
    } else {
      seen.set(variant.name, i);
    }
    variants.push(variant);
  });
  // Whole-list rules only make sense once every entry parsed; otherwise they repeat the entry's error.
  if (variants.length === items.length) {
    const total = variants.reduce((sum, v) => sum + v.weight, 0);
    if (total === 0) list.problem('weights must add up to more than 0, got all 0');
    else if (!Number.isFinite(total)) list.problem('weights must add up to a finite number');
    if (variants.every((v) => v.canary)) {
      list.problem('has only canary variants; at least one must have canary: false, to fall back to');
    }
  }
  return variants;
}

function readVariant(fields: FieldReader): Variant | undefined {
  const before = fields.problems.size;
  fields.unknownKeys(VARIANT_KEYS);
  const name = fields.string('name', { test: (s) => VARIANT_NAME.test(s), want: '1 to 64 of A-Z a-z 0-9 . _ -', required: true });
  const model = modelId(fields.field('model'));
  const weight = fields.number('weight', { min: 0, want: 'a number >= 0', required: true });
  const canary = fields.boolean('canary') ?? false;
  if (fields.problems.size > before) return undefined;
  return { name: name!, model: model!, weight: weight!, canary };
}

function readShadow(target: Field): ShadowTarget | undefined {
  const fields = target.object({ want: `a mapping with keys ${SHADOW_KEYS.join(', ')}` });
  if (!fields) return undefined;
  const before = fields.problems.size;
  fields.unknownKeys(SHADOW_KEYS);
  const model = modelId(fields.field('model'));
  const percent = fields.number('percent', { min: 0, max: 100, want: 'a number from 0 to 100', required: true });
  if (fields.problems.size > before) return undefined;
  return { model: model!, percent: percent! };
}

/** `name@version`, each part directory-name safe. */
function modelId(field: Field): string | undefined {
  const isId = (s: string) => {
    const parts = s.split('@');
    return parts.length === 2 && parts.every((p) => MODEL_PART.test(p));
  };
  return field.string({ test: isId, want: 'name@version, e.g. tinygpt@1', required: true });
}
