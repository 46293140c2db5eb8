import { type RepositoryEntry, scanRepository } from '@tokenmesh/model';

import { loadVersion } from './load-version';
import type { LoadedModel, ModelRepo } from './model-repo';

export interface RepositoryPollOptions {
  readonly repository: string;
  readonly intervalMs: number;
  /** After each load or unload (an immediate heartbeat). */
  readonly changed: () => void;
  readonly onChange: (change: 'loaded' | 'unloaded', model: LoadedModel) => void;
  /** A new version that could not be loaded: told once per state of its files. */
  readonly onFailure: (entry: RepositoryEntry, err: Error) => void;
}

export interface RepositoryPoll {
  /** One scan now (tests, and the timer). */
  scan(): Promise<void>;
  stop(): Promise<void>;
}

const id = (e: { name: string; version: string }) => `${e.name}@${e.version}`;

/**
 * Triton's poll mode for the models this worker serves: a new version directory of one of them
 * is loaded and, once warm, becomes what its bare name resolves to (load first, then switch); a
 * served version whose directory left the repository is unloaded, but only while another version
 * of its name is served, so a name is never left without one. Versions of other models are left
 * to explicit LoadModel calls.
 */
export function pollRepository(repo: ModelRepo, opts: RepositoryPollOptions): RepositoryPoll {
  const failed = new Map<string, string>();
  let running: Promise<void> | undefined;
  let stopped = false;

  const once = async (): Promise<void> => {
    const entries = await scanRepository(opts.repository);
    const bases = () => repo.models.filter((m) => !m.adapter);
    const names = new Set(bases().map((m) => m.entry.name));
    for (const e of entries) {
      if (stopped || !names.has(e.name) || bases().some((m) => m.id === id(e))) continue;
      // Retried only when its files (or their listing) change.
      const state = `${e.dir}:${JSON.stringify(e.meta?.files ?? null)}:${e.problem ?? ''}`;
      if (failed.get(id(e)) === state) continue;
      try {
        const model = await loadVersion(repo, e);
        failed.delete(id(e));
        opts.changed();
        opts.onChange('loaded', model);
      } catch (err) {
        failed.set(id(e), state);
        opts.onFailure(e, err as Error);
      }
    }
    const present = new Set(entries.map(id));
    for (const m of bases()) {
      if (stopped || present.has(m.id) || !m.entry.dir.startsWith(opts.repository)) continue;
      if (!bases().some((o) => o !== m && o.entry.name === m.entry.name)) continue;
      const unloading = repo.unloadModel(m.entry.name, m.entry.version);
      opts.changed();
      opts.onChange('unloaded', await unloading);
    }
  };
  const scan = () => (running ??= once().finally(() => (running = undefined)));

  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      void scan()
        .catch(() => undefined)
        .finally(() => !stopped && schedule());
    }, opts.intervalMs);
    timer.unref();
  };
  if (opts.intervalMs > 0) schedule();
  return {
    scan,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
