import type { Client } from '@connectrpc/connect';
import type { GenerationService, ServedModel } from '@tokenmesh/proto';
import { Refreshing } from '@tokenmesh/refresh';

/** What the catalog needs of a served model; the router's ServedModel also has the context length and worker count. */
export interface ServedModelInfo {
  readonly name: string;
  readonly version: string;
  /** What the workers loaded (ListServedModels.digest); empty or absent when unknown. */
  readonly digest?: string;
}

/** How one listing call to the router is made: a caller's own signal and deadline. */
export interface ListCall {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/**
 * The models the router's pool serves, as the gateway knows them: one list behind readiness
 * (/ready and grpc.health.v1, fed by its poll), the response cache's keys, and the model lists
 * (GET /v1/models, ListModels). A read that finds the list older than `ttlMs` (default 1 s) asks
 * the router, one call for every reader at the time; a failed call is not remembered.
 */
export class ServedModelCatalog<M extends ServedModelInfo = ServedModel> {
  private readonly latest: Refreshing<readonly M[]>;

  constructor(
    private readonly list: (call?: ListCall) => Promise<readonly M[]>,
    ttlMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.latest = new Refreshing({ load: () => list(), maxAgeMs: ttlMs, whenStale: 'wait', onFailure: 'forget', now });
  }

  /** The served models, at most `ttlMs` old. @throws what the router's call threw. */
  models(): Promise<readonly M[]> {
    return this.latest.get();
  }

  /** The last list the router gave, however old (the readiness poll keeps it fresh); undefined before the first. */
  get known(): readonly M[] | undefined {
    return this.latest.current;
  }

  /** Asks the router now, or joins the call in flight: the readiness poll. */
  refresh(): Promise<readonly M[]> {
    return this.latest.refresh();
  }

  /** Asks the router now under the caller's signal and deadline (a model list request), keeping the answer for the other readers. */
  async listing(call: ListCall): Promise<readonly M[]> {
    const at = this.now();
    const models = await this.list(call);
    this.latest.set(models, at);
    return models;
  }
}

/** The catalog of the router's ListServedModels; each call may take `timeoutMs` unless its caller says otherwise. */
export function routerCatalog(router: Client<typeof GenerationService>, timeoutMs = 2000): ServedModelCatalog {
  return new ServedModelCatalog(async (call) => (await router.listServedModels({}, { timeoutMs, ...call })).models);
}

/** A model name in a model list: every version served under it (in the router's order), the first one's context length, and their workers together. */
export interface ModelName<M extends ServedModel = ServedModel> {
  readonly versions: M[];
  readonly contextLength: number;
  workers: number;
}

/** Served models grouped by name, in the order the names first appear. */
export function byName<M extends ServedModel>(models: readonly M[]): Map<string, ModelName<M>> {
  const names = new Map<string, ModelName<M>>();
  for (const m of models) {
    const e = names.get(m.name) ?? { versions: [], contextLength: m.contextLength, workers: 0 };
    e.versions.push(m);
    e.workers += m.workers;
    names.set(m.name, e);
  }
  return names;
}
