import type { MessageShape } from '@bufbuild/protobuf';
import { type Client, Code } from '@connectrpc/connect';
import type { AdapterSchema, AdapterService } from '@tokenmesh/proto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError, fromUpstream } from '../../edge/api-error';
import type { ServedModelCatalog } from '../../pipeline/served-model-catalog';
import { bodyFields } from './fields';
import { readJson, sendJson } from './http-json';
import type { RequestContext } from './request-context';

/** What the admin routes need: the router's AdapterService and the model list to refresh after a change. */
export interface AdapterAdmin {
  readonly adapters: Client<typeof AdapterService>;
  readonly catalog: ServedModelCatalog;
}

type Adapter = MessageShape<typeof AdapterSchema>;

/** An operator's call upstream: its `authorization` goes as is (the workers and routers hold the token and check it). */
export function operatorCall(req: HttpRequest, { signal }: RequestContext): { signal: AbortSignal; headers: Record<string, string> } {
  const auth = req.headers['authorization'];
  return { signal, headers: auth ? { authorization: auth } : {} };
}

/** One adapter as the REST routes answer it: the workers that serve it, in one entry per name. */
function byName(adapters: readonly Adapter[]) {
  const names = new Map<
    string,
    { name: string; base: string; rank: number; digests: Set<string>; paths: Set<string>; workers: string[]; from_config: boolean }
  >();
  for (const a of adapters) {
    const e = names.get(a.name) ?? { name: a.name, base: a.base, rank: a.rank, digests: new Set(), paths: new Set(), workers: [], from_config: a.fromConfig };
    e.digests.add(a.digest);
    e.paths.add(a.path);
    e.workers.push(a.workerId);
    names.set(a.name, e);
  }
  return [...names.values()].map(({ digests, paths, ...e }) => ({
    object: 'lora_adapter',
    ...e,
    digest: [...digests].sort().join(','),
    path: [...paths].join(','),
  }));
}

/**
 * POST /v1/load_lora_adapter — {lora_name, lora_path}, as vLLM's route: loads a PEFT LoRA
 * directory on every worker that serves its base, then answers 200 with where it is served. A
 * path that does not exist, a corrupt file or another base is a 400 naming the problem (never
 * 200); a name in use is 409. The model list and the cache keys see the change at once.
 */
export async function loadAdapterRoute(req: HttpRequest, res: HttpResponse, ctx: RequestContext, admin: AdapterAdmin, bodyLimit: number): Promise<void> {
  const f = bodyFields(await readJson(req, bodyLimit));
  const path = f.string('lora_path');
  if (!path) throw apiError(Code.InvalidArgument, 'lora_path', 'is required: the adapter directory, as the workers see it');
  const name = f.string('lora_name') ?? '';
  const out = await admin.adapters.loadAdapter({ name, path }, operatorCall(req, ctx)).catch((e: unknown) => Promise.reject(fromUpstream(e)));
  await admin.catalog.refresh().catch(() => undefined);
  sendJson(res, 200, byName(out.adapters)[0]);
}

/** POST /v1/unload_lora_adapter — {lora_name}: answers once the adapter's streams have ended everywhere. */
export async function unloadAdapterRoute(req: HttpRequest, res: HttpResponse, ctx: RequestContext, admin: AdapterAdmin, bodyLimit: number): Promise<void> {
  const f = bodyFields(await readJson(req, bodyLimit));
  const name = f.string('lora_name');
  if (!name) throw apiError(Code.InvalidArgument, 'lora_name', 'is required');
  const out = await admin.adapters.unloadAdapter({ name }, operatorCall(req, ctx)).catch((e: unknown) => Promise.reject(fromUpstream(e)));
  await admin.catalog.refresh().catch(() => undefined);
  sendJson(res, 200, { object: 'lora_adapter', name, unloaded: true, workers: out.workerIds });
}

/** GET /v1/lora_adapters — every adapter the workers serve, with their bases, digests and workers. */
export async function listAdaptersRoute(req: HttpRequest, res: HttpResponse, ctx: RequestContext, admin: AdapterAdmin): Promise<void> {
  const out = await admin.adapters.listAdapters({}, operatorCall(req, ctx)).catch((e: unknown) => Promise.reject(fromUpstream(e)));
  sendJson(res, 200, { object: 'list', data: byName(out.adapters) });
}
