import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { modelAllowed } from '../../edge/auth/model-access';
import { callerOf } from '../../edge/auth/request-caller';
import { byName, type ServedModelCatalog } from '../../pipeline/served-model-catalog';
import { sendJson } from './http-json';
import type { RequestContext } from './request-context';

/**
 * GET /v1/models — OpenAI's model list, from the router's live pool: one entry per model name
 * (requests naming it go through traffic splits) and one per name@version, with the context
 * length and how many workers serve it right now. A key limited to some models sees only those.
 */
export async function modelsRoute(req: HttpRequest, res: HttpResponse, { signal }: RequestContext, catalog: ServedModelCatalog): Promise<void> {
  // Asked now, not from the catalog's copy: the list is what is being served at this moment.
  const models = await catalog.listing({ signal, timeoutMs: 5000 });
  const data = [
    ...[...byName(models)].map(([name, e]) => entry(name, e.contextLength, e.workers)),
    ...models.map((m) => entry(`${m.name}@${m.version}`, m.contextLength, m.workers)),
  ];
  const allowed = callerOf(req).allowedModels;
  sendJson(res, 200, { object: 'list', data: allowed ? data.filter((e) => modelAllowed(allowed, e['id'] as string)) : data });
}

function entry(id: string, contextLength: number, workers: number): Record<string, unknown> {
  return { id, object: 'model', created: 0, owned_by: 'tokenmesh', context_length: contextLength, workers };
}
