import { basename, resolve } from 'node:path';

import type { Registry } from '@tokenmesh/metrics';
import type { ModelSpec } from '@tokenmesh/model';

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
}

/** The models one worker serves, addressed as `name` (newest version loaded) or `name@version`. */
export class ModelRepo {
  private constructor(readonly models: readonly LoadedModel[]) {}

  /** Loads every entry; with a registry, each engine reports vLLM-style metrics labelled by model. */
  static async load(
    entries: readonly ModelEntry[],
    options: RunnerOptions & { workersPerModel?: number },
    limits: EngineLimits = DEFAULT_LIMITS,
    registry?: Registry,
  ): Promise<ModelRepo> {
    const started: ModelRunner[] = [];
    const models: LoadedModel[] = [];
    const metrics = registry && new EngineMetrics(registry, limits.maxBatchSize);
    try {
      for (const entry of entries) {
        const id = `${entry.name}@${entry.version}`;
        const runners: ModelRunner[] = [];
        for (let i = 0; i < (options.workersPerModel ?? 1); i++) {
          const runner = await ModelRunner.start(entry.dir, options);
          started.push(runner);
          runners.push(runner);
        }
        const engine = new EnginePool(runners.map((r) => new Engine(r, limits, metrics?.forModel(id))));
        metrics?.watch(id, engine);
        models.push({ entry, spec: runners[0]!.spec, runners, engine, id });
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
    for (const { engine } of this.models) {
      running += engine.running;
      waiting += engine.queued;
      reserved += engine.kvReserved;
      budget += engine.kvBudget;
    }
    return { models: this.models.map((m) => m.id), running, waiting, kvBudgetUsed: budget > 0 ? reserved / budget : 0 };
  }

  async close(): Promise<void> {
    await Promise.all(this.models.flatMap((m) => m.runners.map((r) => r.close())));
  }
}
