import type { Client } from '@connectrpc/connect';
import type { GenerationService } from '@tokenmesh/proto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';
import { callerOf } from '../../edge/auth/request-caller';
import { modelAllowed } from '../../edge/auth/model-access';
import { sendJson } from './http-json';
import type { RequestContext } from './request-context';

/**
 * GET /v1/models — OpenAI's model list, from the router's live pool: one entry per model name
 * (requests naming it go through traffic splits) and one per name@version, with the context
 * length and how many workers serve it right now. A key limited to some models sees only those.
 */
export async function modelsRoute(req: HttpRequest, res: HttpResponse, { signal }: RequestContext, router: Client<typeof GenerationService>): Promise<void> {
  const { models } = await router.listServedModels({}, { signal, timeoutMs: 5000 });
  const byName = new Map<string, { contextLength: number; workers: number }>();
  const data: Record<string, unknown>[] = [];
  for (const m of models) {
    const e = byName.get(m.name) ?? { contextLength: m.contextLength, workers: 0 };
    e.workers += m.workers;
    byName.set(m.name, e);
    data.push(entry(`${m.name}@${m.version}`, m.contextLength, m.workers));
  }
  data.unshift(...[...byName].map(([name, e]) => entry(name, e.contextLength, e.workers)));
  const allowed = callerOf(req).allowedModels;
  sendJson(res, 200, { object: 'list', data: allowed ? data.filter((e) => modelAllowed(allowed, e['id'] as string)) : data });
}

function entry(id: string, contextLength: number, workers: number): Record<string, unknown> {
  return { id, object: 'model', created: 0, owned_by: 'tokenmesh', context_length: contextLength, workers };
}
