import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import type { Registry } from '@tokenmesh/metrics';
import { AdapterError, filesSha256, MODEL_META_FILE, type ModelSpec, readAdapterConfig, versionOf } from '@tokenmesh/model';
import { InFlight } from '@tokenmesh/server';

import type { WorkerSnapshot } from '../discovery/heartbeat';
import { Engine } from '../engine/engine';
import { DEFAULT_LIMITS, type EngineLimits } from '../engine/engine-limits';
import { EngineMetrics } from '../engine/engine-metrics';
import { EnginePool } from '../engine/engine-pool';
import { ModelRunner, type RunnerOptions } from '../engine/model-runner';

/**
 * One configured model: `path`, or `name@version=path`. A bare path is named by its
 * model-meta.json (`name`, `version`), else by its directory's name, version 1.
 */
export interface ModelEntry {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
}

/** @throws Error naming the entry when it cannot be parsed. */
export function parseModelEntry(entry: string): ModelEntry {
  const eq = entry.indexOf('=');
  const dir = resolve(eq >= 0 ? entry.slice(eq + 1) : entry);
  const id = eq >= 0 ? entry.slice(0, eq) : metaId(dir);
  const [name, version = '1', ...rest] = id.split('@');
  if (!name || !/^[\w.-]+$/.test(name) || !/^[\w.-]+$/.test(version) || rest.length > 0) {
    throw new Error(`model entry ${JSON.stringify(entry)}: expected "path" or "name@version=path"`);
  }
  return { name, version, dir };
}

/** name@version of a bare path, as the repository names the directory (versionOf its model-meta.json). */
function metaId(dir: string): string {
  let meta: { name?: unknown; version?: unknown } = {};
  try {
    meta = JSON.parse(readFileSync(join(dir, MODEL_META_FILE), 'utf8')) as typeof meta;
  } catch {
    // No (readable) model-meta.json: the directory's name, version 1; the load reports a broken one.
  }
  const { name, version } = versionOf({ name: typeof meta.name === 'string' ? meta.name : undefined, version: typeof meta.version === 'string' ? meta.version : undefined }, basename(dir));
  return `${name}@${version}`;
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
  readonly adapter?: AdapterOf;
  /** Its open streams (queued ones included): an unload waits for them. */
  readonly streams: InFlight;
}

export interface AdapterOf {
  readonly slot: number;
  /** The base's name. */
  readonly parent: string;
  /** The base, name@version. */
  readonly base: string;
  readonly rank: number;
  /** Loaded from INFERENCE_ADAPTERS at start, not by a run-time load. */
  readonly fromConfig: boolean;
}

/** Why a run-time change (a model version or an adapter loaded or unloaded) was refused, as callers act on it. */
export class ModelChangeError extends Error {
  constructor(
    readonly reason: 'invalid' | 'not-found' | 'exists' | 'not-served-here' | 'in-use',
    message: string,
  ) {
    super(message);
    this.name = 'ModelChangeError';
  }
}

/** What every load needs, kept from the start for run-time loads. */
interface LoadContext {
  readonly options: RunnerOptions & { workersPerModel?: number };
  readonly limits: EngineLimits;
  readonly metrics?: EngineMetrics;
}

/**
 * The model's worker threads and engine; on failure, every thread it started is closed.
 * `digest`: the ONNX file's SHA-256 when the caller has just checked it (model-meta.json), so
 * the file is not read a second time.
 */
async function startModel(entry: ModelEntry, ctx: LoadContext, adapterDirs: readonly string[], digest?: string): Promise<LoadedModel> {
  const id = `${entry.name}@${entry.version}`;
  const runners: ModelRunner[] = [];
  try {
    for (let i = 0; i < (ctx.options.workersPerModel ?? 1); i++) runners.push(await ModelRunner.start(entry.dir, ctx.options, adapterDirs));
    const spec = runners[0]!.spec;
    const sha = digest ?? (await filesSha256([join(spec.dir, 'onnx', 'model.onnx')]));
    const engine = new EnginePool(runners.map((r) => new Engine(r, ctx.limits, ctx.metrics?.forModel(id))));
    // Watched last: nothing after it can fail and leave a closed engine in the metrics.
    ctx.metrics?.watch(id, engine);
    return { entry, spec, runners, engine, id, digest: sha, streams: new InFlight() };
  } catch (err) {
    await Promise.all(runners.map((r) => r.close()));
    throw err;
  }
}

/** The models one worker serves, addressed as `name` (newest version loaded) or `name@version`. */
export class ModelRepo {
  private list: LoadedModel[];
  /** Changes at every load or unload: heartbeats carry it, so routers re-read the digests. */
  private rev = 1;
  /** Adapter slots taken per base (by its runners), those being unloaded included. */
  private readonly slotsInUse = new Map<readonly ModelRunner[], Set<number>>();
  /** Names being loaded or unloaded now: a second change of one waits for none, it is refused. */
  private readonly changing = new Set<string>();

  private constructor(
    models: LoadedModel[],
    private readonly ctx: LoadContext,
  ) {
    this.list = models;
    for (const m of models) if (m.adapter) this.slots(m.runners).add(m.adapter.slot);
  }

  /** Every model served now, adapters included; a new array after each change. */
  get models(): readonly LoadedModel[] {
    return this.list;
  }

  get revision(): number {
    return this.rev;
  }

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
    const ctx: LoadContext = { options, limits, metrics: registry && new EngineMetrics(registry, limits.maxBatchSize) };
    const models: LoadedModel[] = [];
    try {
      const adapters = await adaptersByBase(entries, adapterDirs);
      for (const entry of entries) {
        const mine = adapters.get(entry) ?? [];
        const base = await startModel(entry, ctx, mine.map((a) => a.dir));
        models.push(base);
        for (const [i, a] of mine.entries()) {
          models.push(await adapterModel(base, a.name, a.dir, { slot: i + 1, parent: entry.name, base: base.id, rank: a.rank, fromConfig: true }));
        }
      }
    } catch (err) {
      await Promise.all([...new Set(models.flatMap((m) => m.runners))].map((r) => r.close()));
      throw err;
    }
    return new ModelRepo(models, ctx);
  }

  /**
   * Starts `entry` in worker threads of its own beside the running models, runs `warmUp` on it,
   * and only then serves it (resolve, heartbeats): running streams never wait for the load.
   * @throws ModelChangeError when name@version is served or changing; the worker's error naming
   *   what is wrong with the files (then nothing is loaded and every thread it started is closed)
   */
  async loadModel(entry: ModelEntry, warmUp: (m: LoadedModel) => Promise<void>, digest?: string): Promise<LoadedModel> {
    const id = `${entry.name}@${entry.version}`;
    if (this.list.some((m) => m.id === id) || this.changing.has(id))
      throw new ModelChangeError('exists', `${id} is already served by this worker (or being loaded or unloaded)`);
    if (this.list.some((m) => m.adapter && m.entry.name === entry.name)) throw new ModelChangeError('invalid', `${entry.name} is the name of an adapter this worker serves`);
    this.changing.add(id);
    try {
      const model = await startModel(entry, this.ctx, [], digest);
      try {
        await warmUp(model);
      } catch (err) {
        await this.dispose(model);
        throw err;
      }
      this.list = [...this.list, model];
      this.rev++;
      return model;
    } finally {
      this.changing.delete(id);
    }
  }

  /**
   * Stops serving name@version at once (requests naming it, or its name when no other version is
   * served, fail as for any unknown model), waits for its open streams to end, then frees its
   * worker threads.
   * @throws ModelChangeError when this worker does not serve it, or adapters still ride on it
   */
  async unloadModel(name: string, version: string): Promise<LoadedModel> {
    const id = `${name}@${version}`;
    const model = this.list.find((m) => !m.adapter && m.id === id);
    if (!model) throw new ModelChangeError('not-found', `${id} is not loaded on this worker`);
    const riders = this.list.filter((m) => m.adapter?.base === id);
    if (riders.length > 0)
      throw new ModelChangeError('in-use', `${id} serves the adapters ${riders.map((m) => m.entry.name).join(', ')}: unload them first`);
    this.list = this.list.filter((m) => m !== model);
    this.rev++;
    this.changing.add(id);
    try {
      await model.streams.idle();
      await this.dispose(model);
    } finally {
      this.changing.delete(id);
    }
    return model;
  }

  /**
   * Loads the PEFT adapter in `dir` as model `name` (default: the directory's name) into a free
   * slot of its base's LoRA inputs, in every worker thread of the base, beside the running
   * streams. It is served (resolve, heartbeats) only once every thread has it.
   * @throws ModelChangeError (a bad name, one in use, a base this worker does not serve) or
   *   the worker's error naming what is wrong with the adapter (then nothing is loaded)
   */
  async loadAdapter(dir: string, name?: string): Promise<LoadedModel> {
    const path = resolve(dir);
    const { name: dirName, base: baseName } = await readAdapterConfig(path);
    const id = name || dirName;
    if (!/^[\w.-]+$/.test(id)) throw new ModelChangeError('invalid', `adapter name ${JSON.stringify(id)}: use letters, digits, '_', '-' and '.' only`);
    if (this.list.some((m) => m.entry.name === id) || this.changing.has(id))
      throw new ModelChangeError('exists', `${id} is already served by this worker (or being loaded or unloaded): unload it first`);
    const base = this.list.filter((m) => !m.adapter && m.entry.name === baseName).at(-1);
    if (!base)
      throw new ModelChangeError('not-served-here', `adapter ${id}: adapter_config.json names the base ${JSON.stringify(baseName)}, which this worker does not serve`);
    const taken = this.slots(base.runners);
    let slot = 1;
    while (taken.has(slot)) slot++;
    taken.add(slot);
    this.changing.add(id);
    try {
      const ranks = await Promise.allSettled(base.runners.map((r) => r.loadAdapter(slot, path)));
      const failed = ranks.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        await Promise.allSettled(base.runners.map((r, i) => (ranks[i]!.status === 'fulfilled' ? r.unloadAdapter(slot) : undefined)));
        throw failed.reason;
      }
      const rank = (ranks[0] as PromiseFulfilledResult<number>).value;
      const model = await adapterModel(base, id, path, { slot, parent: base.entry.name, base: base.id, rank, fromConfig: false });
      this.list = [...this.list, model];
      this.rev++;
      return model;
    } catch (err) {
      taken.delete(slot);
      throw err;
    } finally {
      this.changing.delete(id);
    }
  }

  /**
   * Stops serving adapter `name` at once (new requests for it fail as for any unknown model),
   * waits for its open streams to end, then frees its slot.
   * @throws ModelChangeError when this worker serves no adapter of that name
   */
  async unloadAdapter(name: string): Promise<LoadedModel> {
    const model = this.list.find((m) => m.adapter && m.entry.name === name);
    if (!model?.adapter) throw new ModelChangeError('not-found', `no adapter ${JSON.stringify(name)} is loaded on this worker`);
    this.list = this.list.filter((m) => m !== model);
    this.rev++;
    this.changing.add(name);
    try {
      await model.streams.idle();
      await Promise.all(model.runners.map((r) => r.unloadAdapter(model.adapter!.slot)));
      this.slots(model.runners).delete(model.adapter.slot);
    } finally {
      this.changing.delete(name);
    }
    return model;
  }

  /** Frees a base model's worker threads, its metrics and its adapter slots. */
  private async dispose(model: LoadedModel): Promise<void> {
    await Promise.all(model.runners.map((r) => r.close()));
    this.ctx.metrics?.unwatch(model.id);
    this.slotsInUse.delete(model.runners);
  }

  private slots(runners: readonly ModelRunner[]): Set<number> {
    let s = this.slotsInUse.get(runners);
    if (!s) this.slotsInUse.set(runners, (s = new Set()));
    return s;
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
    return { models: this.models.map((m) => m.id), running, waiting, kvBudgetUsed: budget > 0 ? reserved / budget : 0, revision: this.rev };
  }

  async close(): Promise<void> {
    await Promise.all([...new Set(this.models.flatMap((m) => m.runners))].map((r) => r.close()));
  }
}

/** An adapter as a model of its own, served by `base`'s runners and engine. */
async function adapterModel(base: LoadedModel, name: string, dir: string, adapter: AdapterOf): Promise<LoadedModel> {
  return {
    entry: { name, version: '1', dir },
    spec: base.spec,
    runners: base.runners,
    engine: base.engine,
    id: `${name}@1`,
    // The base's digest too: the same adapter over another base answers otherwise.
    digest: await filesSha256([join(dir, 'adapter_config.json'), join(dir, 'adapter_model.safetensors')], base.digest),
    adapter,
    streams: new InFlight(),
  };
}


/**
 * Each adapter given to the newest entry of the base its config names. Only the config is read
 * here; the worker thread that serves the adapter checks it whole against its base (architecture,
 * targets, rank, shapes) before it reports ready, so a bad adapter fails the start with its reason.
 */
type ConfiguredAdapter = { name: string; dir: string; rank: number };

async function adaptersByBase(entries: readonly ModelEntry[], dirs: readonly string[]): Promise<Map<ModelEntry, ConfiguredAdapter[]>> {
  const byBase = new Map<ModelEntry, ConfiguredAdapter[]>();
  const names = new Set(entries.map((e) => e.name));
  for (const dir of dirs) {
    const { name, base, config } = await readAdapterConfig(dir);
    const entry = entries.filter((e) => e.name === base).at(-1);
    if (!entry) {
      throw new AdapterError(name, 'adapter_config.json: base_model_name_or_path', `names ${JSON.stringify(base)}, which this worker does not serve (INFERENCE_MODELS)`);
    }
    if (names.has(name)) throw new AdapterError(name, 'name', `is also the name of a model this worker serves`);
    // The worker thread checks `r` (and the rest) before the start completes.
    byBase.set(entry, [...(byBase.get(entry) ?? []), { name, dir: resolve(dir), rank: Number(config['r']) }]);
    names.add(name);
  }
  return byBase;
}
