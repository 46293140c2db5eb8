import { create, type DescMessage, type MessageShape, toJson } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import {
  ChangeTrafficRequestSchema,
  ChangeTrafficResponseSchema,
  ListHistoryRequestSchema,
  ListHistoryResponseSchema,
  ListRegistryRequestSchema,
  ListRegistryResponseSchema,
  LoadVersionRequestSchema,
  LoadVersionResponseSchema,
  RollbackRequestSchema,
  RollbackResponseSchema,
  UnloadVersionRequestSchema,
  UnloadVersionResponseSchema,
} from '@tokenmesh/proto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError, fromUpstream } from '../../edge/api-error';
import type { Registry } from '../../registry/registry-service';
import { operatorCall } from './adapters-route';
import { bodyFields } from './fields';
import { readJson, sendJson } from './http-json';
import type { RequestContext } from './request-context';

const answer = <D extends DescMessage>(res: HttpResponse, schema: D, message: MessageShape<D>) =>
  sendJson(res, 200, toJson(schema, message, { alwaysEmitImplicit: true }) as Record<string, unknown>);
const upstream = (e: unknown) => Promise.reject(fromUpstream(e));

/** The version a load or unload names: {"model": "tinygpt", "version": "int8"}. */
async function versionBody(req: HttpRequest, bodyLimit: number) {
  const f = bodyFields(await readJson(req, bodyLimit));
  const name = f.string('model');
  const version = f.string('version');
  if (!name) throw apiError(Code.InvalidArgument, 'model', 'is required: the model name');
  if (!version) throw apiError(Code.InvalidArgument, 'version', 'is required: a version directory of the repository');
  return { name, version };
}

/** The variants of a split, each field checked here so the error names it (`variants[1].weight`). */
function variantsOf(raw: unknown): { name: string; model: string; weight: number; canary: boolean }[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw apiError(Code.InvalidArgument, 'variants', 'must be an array of {name, model, weight, canary?}');
  return raw.map((v: unknown, i) => {
    const at = `variants[${i}]`;
    if (typeof v !== 'object' || v === null) throw apiError(Code.InvalidArgument, at, 'must be an object {name, model, weight, canary?}');
    const o = v as Record<string, unknown>;
    if (typeof o['name'] !== 'string') throw apiError(Code.InvalidArgument, `${at}.name`, 'must be a string');
    if (typeof o['model'] !== 'string') throw apiError(Code.InvalidArgument, `${at}.model`, 'must be a string: name@version');
    if (typeof o['weight'] !== 'number') throw apiError(Code.InvalidArgument, `${at}.weight`, 'must be a number ≥ 0');
    if (o['canary'] !== undefined && typeof o['canary'] !== 'boolean') throw apiError(Code.InvalidArgument, `${at}.canary`, 'must be a boolean');
    return { name: o['name'], model: o['model'], weight: o['weight'], canary: o['canary'] === true };
  });
}

/**
 * The registry's REST routes (operators'; `authorization: Bearer <admin token>`, checked by the
 * workers and routers): GET /v1/registry/models[?model=], GET /v1/registry/history[?model=&limit=],
 * POST /v1/registry/load and /unload {model, version}, POST /v1/registry/traffic {model, variants,
 * strategy?} (no variants: the file's split again), POST /v1/registry/rollback {model}.
 */
export function registryRoutes(registry: Registry, bodyLimit: number) {
  type Route = (req: HttpRequest, res: HttpResponse, ctx: RequestContext) => Promise<void>;
  const query = (req: HttpRequest) => new URL(req.url ?? '/', 'http://x').searchParams;
  const routes: Record<string, Record<string, Route>> = {
    '/v1/registry/models': {
      GET: async (req, res, ctx) => {
        const out = await registry
          .listRegistry(create(ListRegistryRequestSchema, { name: query(req).get('model') ?? '' }), operatorCall(req, ctx))
          .catch(upstream);
        answer(res, ListRegistryResponseSchema, create(ListRegistryResponseSchema, out));
      },
    },
    '/v1/registry/history': {
      GET: async (req, res) => {
        const q = query(req);
        const limit = Number(q.get('limit') ?? 100);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
          throw apiError(Code.InvalidArgument, 'limit', `must be an integer 1–1000, got ${q.get('limit')}`);
        const out = await registry.listHistory(create(ListHistoryRequestSchema, { model: q.get('model') ?? '', limit }));
        answer(res, ListHistoryResponseSchema, create(ListHistoryResponseSchema, out));
      },
    },
    '/v1/registry/load': {
      POST: async (req, res, ctx) => {
        const out = await registry.loadVersion(create(LoadVersionRequestSchema, await versionBody(req, bodyLimit)), operatorCall(req, ctx)).catch(upstream);
        answer(res, LoadVersionResponseSchema, create(LoadVersionResponseSchema, out));
      },
    },
    '/v1/registry/unload': {
      POST: async (req, res, ctx) => {
        const out = await registry.unloadVersion(create(UnloadVersionRequestSchema, await versionBody(req, bodyLimit)), operatorCall(req, ctx)).catch(upstream);
        answer(res, UnloadVersionResponseSchema, create(UnloadVersionResponseSchema, out));
      },
    },
    '/v1/registry/traffic': {
      POST: async (req, res, ctx) => {
        const body = await readJson(req, bodyLimit);
        const f = bodyFields(body);
        const model = f.string('model');
        if (!model) throw apiError(Code.InvalidArgument, 'model', 'is required: the model name to split');
        const strategy = f.string('strategy') ?? '';
        const variants = variantsOf(body['variants']);
        const out = await registry.changeTraffic(create(ChangeTrafficRequestSchema, { model, strategy, variants }), operatorCall(req, ctx)).catch(upstream);
        answer(res, ChangeTrafficResponseSchema, create(ChangeTrafficResponseSchema, out));
      },
    },
    '/v1/registry/rollback': {
      POST: async (req, res, ctx) => {
        const model = bodyFields(await readJson(req, bodyLimit)).string('model');
        if (!model) throw apiError(Code.InvalidArgument, 'model', 'is required: the model whose last traffic change to undo');
        const out = await registry.rollback(create(RollbackRequestSchema, { model }), operatorCall(req, ctx)).catch(upstream);
        answer(res, RollbackResponseSchema, create(RollbackResponseSchema, out));
      },
    },
  };
  return routes;
}
