import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import type { Registry } from '@tokenmesh/metrics';
import { AdapterError, type ModelSpec, readAdapterConfig } from '@tokenmesh/model';

import type { WorkerSnapshot } from '../discovery/heartbeat';
import { Engine } from '../engine/engine';
import { DEFAULT_LIMITS, type EngineLimits } from '../engine/engine-limits';
import { EngineMetrics } from '../engine/engine-metrics';
import { EnginePool } from '../engine/engine-pool';
import { ModelRunner, type RunnerOptions } from '../engine/model-runner';

/** One configured model: `path`, or `name@version=path` (default: directory name, version 1). */
export interface ModelEntry {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
}

/** @throws Error naming the entry when it cannot be parsed. */
export function parseModelEntry(entry: string): ModelEntry {
  const eq = entry.indexOf('=');
  const dir = resolve(eq >= 0 ? entry.slice(eq + 1) : entry);
  const id = eq >= 0 ? entry.slice(0, eq) : basename(dir);
  const [name, version = '1', ...rest] = id.split('@');
  if (!name || !/^[\w.-]+$/.test(name) || !/^[\w.-]+$/.test(version) || rest.length > 0) {
    throw new Error(`model entry ${JSON.stringify(entry)}: expected "path" or "name@version=path"`);
  }
  return { name, version, dir };
}

/** A loaded model: its worker thread and the engine that streams its tokens. */
export interface LoadedModel {
  readonly entry: ModelEntry;
  readonly spec: ModelSpec;
  /** One worker thread each (INFERENCE_WORKERS_PER_MODEL). */
  readonly runners: readonly ModelRunner[];
  readonly engine: EnginePool;
  /** name@version, as reported to callers. */
  readonly id: string;
  /** SHA-256 of the files it was loaded from (ListServedModels.digest). */
  readonly digest: string;
  /** A LoRA adapter: served by its base's runners and engine, its rows in `slot` of the base's LoRA export. */
  readonly adapter?: { readonly slot: number; readonly parent: string };
}

/** The models one worker serves, addressed as `name` (newest version loaded) or `name@version`. */
export class ModelRepo {
  private constructor(readonly models: readonly LoadedModel[]) {}

  /**
   * Loads every entry; with a registry, each engine reports vLLM-style metrics labelled by model.
   * Each adapter directory (PEFT LoRA) is served by the newest loaded version of the base its
   * config names, as a model of its own (its directory's name).
   * @throws AdapterError for an adapter whose base is not loaded; the worker's error for one that does not fit it
   */
  static async load(
    entries: readonly ModelEntry[],
    options: RunnerOptions & { workersPerModel?: number },
    limits: EngineLimits = DEFAULT_LIMITS,
    registry?: Registry,
    adapterDirs: readonly string[] = [],
  ): Promise<ModelRepo> {
    const started: ModelRunner[] = [];
    const models: LoadedModel[] = [];
    const metrics = registry && new EngineMetrics(registry, limits.maxBatchSize);
    try {
      const adapters = await adaptersByBase(entries, adapterDirs);
      for (const entry of entries) {
        const id = `${entry.name}@${entry.version}`;
        const mine = adapters.get(entry) ?? [];
        const runners: ModelRunner[] = [];
        for (let i = 0; i < (options.workersPerModel ?? 1); i++) {
          const runner = await ModelRunner.start(
            entry.dir,
            options,
            mine.map((a) => a.dir),
          );
          started.push(runner);
          runners.push(runner);
        }
        const engine = new EnginePool(runners.map((r) => new Engine(r, limits, metrics?.forModel(id))));
        metrics?.watch(id, engine);
        const spec = runners[0]!.spec;
        const digest = await filesDigest([join(spec.dir, 'onnx', 'model.onnx')]);
        models.push({ entry, spec, runners, engine, id, digest });
        for (const [i, a] of mine.entries()) {
          models.push({
            entry: { name: a.name, version: '1', dir: a.dir },
            spec,
            runners,
            engine,
            id: `${a.name}@1`,
            // The base's digest too: the same adapter over another base answers otherwise.
            digest: await filesDigest([join(a.dir, 'adapter_config.json'), join(a.dir, 'adapter_model.safetensors')], digest),
            adapter: { slot: i + 1, parent: entry.name },
          });
        }
      }
    } catch (err) {
      await Promise.all(started.map((r) => r.close()));
      throw err;
    }
    return new ModelRepo(models);
  }

  /** undefined when no loaded model matches. */
  resolve(ref: string): LoadedModel | undefined {
    const [name, version] = ref.split('@');
    const candidates = this.models.filter((m) => m.entry.name === name && (version === undefined || m.entry.version === version));
    return candidates.at(-1);
  }

  /** The load a heartbeat announces: every model, requests summed, KV reserved over all budgets. */
  snapshot(): WorkerSnapshot {
    let running = 0;
    let waiting = 0;
    let reserved = 0;
    let budget = 0;
    // Adapters share their base's engine: each engine counted once.
    for (const engine of new Set(this.models.map((m) => m.engine))) {
      running += engine.running;
      waiting += engine.queued;
      reserved += engine.kvReserved;
      budget += engine.kvBudget;
    }
    return { models: this.models.map((m) => m.id), running, waiting, kvBudgetUsed: budget > 0 ? reserved / budget : 0 };
  }

  async close(): Promise<void> {
    await Promise.all([...new Set(this.models.flatMap((m) => m.runners))].map((r) => r.close()));
  }
}

/** SHA-256 (hex) over `prefix` and the files' bytes, in order, streamed (a model file may be large). */
async function filesDigest(files: readonly string[], prefix = ''): Promise<string> {
  const hash = createHash('sha256').update(prefix);
  for (const file of files) for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Each adapter given to the newest entry of the base its config names. Only the config is read
 * here; the worker thread that serves the adapter checks it whole against its base (architecture,
 * targets, rank, shapes) before it reports ready, so a bad adapter fails the start with its reason.
 */
async function adaptersByBase(entries: readonly ModelEntry[], dirs: readonly string[]): Promise<Map<ModelEntry, { name: string; dir: string }[]>> {
  const byBase = new Map<ModelEntry, { name: string; dir: string }[]>();
  const names = new Set(entries.map((e) => e.name));
  for (const dir of dirs) {
    const { name, base } = await readAdapterConfig(dir);
    const entry = entries.filter((e) => e.name === base).at(-1);
    if (!entry) {
      throw new AdapterError(name, 'adapter_config.json: base_model_name_or_path', `names ${JSON.stringify(base)}, which this worker does not serve (INFERENCE_MODELS)`);
    }
    if (names.has(name)) throw new AdapterError(name, 'name', `is also the name of a model this worker serves`);
    byBase.set(entry, [...(byBase.get(entry) ?? []), { name, dir: resolve(dir) }]);
    names.add(name);
  }
  return byBase;
}
