import type { ServedModel, TrafficShare } from '@tokenmesh/proto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { modelAllowed } from '../../edge/auth/model-access';
import { callerOf } from '../../edge/auth/request-caller';
import { byName, type ServedModelCatalog } from '../../pipeline/served-model-catalog';
import { sendJson } from './http-json';
import type { RequestContext } from './request-context';

/**
 * GET /v1/models — OpenAI's model list, from the router's live pool: one entry per model name
 * (requests naming it go through traffic splits) and one per name@version, with the context
 * length and how many workers serve it right now. A name with a traffic split lists it
 * (`traffic`: each variant, the model it routes to, its weight and share); a version lists the
 * variants that route to it. A key limited to some models sees only those.
 */
export async function modelsRoute(req: HttpRequest, res: HttpResponse, ctx: RequestContext, catalog: ServedModelCatalog): Promise<void> {
  sendJson(res, 200, { object: 'list', data: await visibleEntries(req, ctx, catalog) });
}

/** Where GET /v1/models/{model} starts: the rest of the path is the (URL-encoded) model id. */
export const MODEL_PATH_PREFIX = '/v1/models/';

/**
 * GET /v1/models/{model} — OpenAI's models.retrieve: the entry GET /v1/models lists under that id
 * (a name or name@version). Anything the list would not show this caller, a model outside the
 * key's list included, is a 404 `model_not_found` (a limited key learns nothing more than from
 * the list).
 */
export async function modelRoute(req: HttpRequest, res: HttpResponse, ctx: RequestContext, catalog: ServedModelCatalog): Promise<void> {
  const raw = (req.url ?? '/').split('?')[0]!.slice(MODEL_PATH_PREFIX.length);
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    id = raw; // a malformed escape names no served model: answered as unknown below
  }
  const found = (await visibleEntries(req, ctx, catalog)).find((e) => e['id'] === id);
  if (found) return sendJson(res, 200, found);
  sendJson(res, 404, {
    error: {
      message: `The model ${JSON.stringify(id)} does not exist or is not served`,
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    },
  });
}

/** The entries GET /v1/models shows this caller. */
async function visibleEntries(req: HttpRequest, { signal }: RequestContext, catalog: ServedModelCatalog): Promise<Record<string, unknown>[]> {
  // Asked now, not from the catalog's copy: the list is what is being served at this moment.
  const models = await catalog.listing({ signal, timeoutMs: 5000 });
  const data: Record<string, unknown>[] = [
    ...[...byName(models)].map(([name, e]) => ({ ...entry(name, e.contextLength, e.workers, e.versions[0]!.parent), ...splitOf(name, models) })),
    ...models.map((m) => ({
      ...entry(`${m.name}@${m.version}`, m.contextLength, m.workers, m.parent),
      ...(m.traffic.length > 0 && { traffic: m.traffic.map((t) => ({ model: t.model, variant: t.variant, weight: t.weight, share: share(t) })) }),
    })),
  ];
  const allowed = callerOf(req).allowedModels;
  return allowed ? data.filter((e) => modelAllowed(allowed, e['id'] as string)) : data;
}

/** A variant's part of its split's traffic, 0..1. */
const share = (t: TrafficShare) => (t.totalWeight > 0 ? Math.round((t.weight / t.totalWeight) * 10_000) / 10_000 : 0);

/** The split of requests for `name`, from the served models it routes to; none when it has none. */
function splitOf(name: string, models: readonly ServedModel[]): { traffic?: Record<string, unknown>[] } {
  const variants = models.flatMap((m) =>
    m.traffic.filter((t) => t.model === name).map((t) => ({ variant: t.variant, model: `${m.name}@${m.version}`, weight: t.weight, share: share(t) })),
  );
  return variants.length > 0 ? { traffic: variants } : {};
}

/** One model object; a LoRA adapter also names its base, as `parent` (vLLM's field for adapters). */
function entry(id: string, contextLength: number, workers: number, parent: string): Record<string, unknown> {
  return { id, object: 'model', created: 0, owned_by: 'tokenmesh', context_length: contextLength, workers, ...(parent && { parent }) };
}
