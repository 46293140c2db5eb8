import type { MessageInitShape } from '@bufbuild/protobuf';
import { type Client, Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import {
  type ModelControlService,
  type ModelRegistryService,
  type RegistryModelSchema,
  type RepositoryVersion,
  type Split,
  type TrafficService,
} from '@tokenmesh/proto';

import type { HistoryRecord, RegistryHistory } from './registry-history';

export interface RegistryDeps {
  /** The router's, for every worker. */
  readonly control: Client<typeof ModelControlService>;
  readonly traffic: Client<typeof TrafficService>;
  readonly history: RegistryHistory;
  /** After a change: the gateway's model list (and cache keys) see it at once. */
  readonly changed: () => Promise<void>;
}

/** An operator's call: the token goes upstream as is (workers and routers hold it and check it). */
export interface OperatorCall {
  readonly signal: AbortSignal;
  readonly headers: Record<string, string>;
}

function forwarded(ctx: HandlerContext): OperatorCall {
  const auth = ctx.requestHeader.get('authorization');
  return { signal: ctx.signal, headers: auth ? { authorization: auth } : {} };
}

/** A refusal for want of a token changes nothing and is not history. */
const NOT_RECORDED = new Set([Code.Unauthenticated, Code.PermissionDenied]);

/** The models of the repository with where each version is served and the split that routes to it. */
export function registryModels(
  versions: readonly RepositoryVersion[],
  splits: readonly Split[],
  only?: string,
): MessageInitShape<typeof RegistryModelSchema>[] {
  const names = [...new Set([...versions.map((v) => v.name), ...splits.map((s) => s.model)])].filter((n) => !only || n === only).sort();
  return names.map((name) => {
    const byVersion = new Map<string, { meta?: RepositoryVersion['meta']; workerIds: string[]; availableOn: string[]; problem: string }>();
    for (const v of versions.filter((x) => x.name === name)) {
      const e = byVersion.get(v.version) ?? { workerIds: [], availableOn: [], problem: '' };
      e.meta ??= v.meta;
      if (v.loaded) e.workerIds.push(v.workerId);
      if (v.path) e.availableOn.push(v.workerId);
      e.problem ||= v.problem;
      byVersion.set(v.version, e);
    }
    return {
      name,
      versions: [...byVersion].map(([version, e]) => ({ version, ...e })),
      split: splits.find((s) => s.model === name),
    };
  });
}

type Req<M extends keyof ServiceImpl<typeof ModelRegistryService>> = Parameters<ServiceImpl<typeof ModelRegistryService>[M]>[0];

const ref = (name: string, version: string) => {
  if (!name) throw new ConnectError('name: the model is required', Code.InvalidArgument);
  if (!version) throw new ConnectError('version: the version is required', Code.InvalidArgument);
};

/**
 * The gateway's ModelRegistryService (proto/tokenmesh/registry/v1): one place for operators to
 * see the repository, what serves where and how traffic is split, to load, unload, re-split and
 * roll back — each change recorded in the history in the store, failed loads with their reason.
 */
export function registryOps(deps: RegistryDeps) {
  const record = async <T>(f: () => Promise<T>, ok: (r: T) => HistoryRecord, failed?: (e: ConnectError) => HistoryRecord) => {
    let r: T;
    try {
      r = await f();
    } catch (err) {
      const e = ConnectError.from(err);
      if (failed && !NOT_RECORDED.has(e.code)) await deps.history.append(failed(e)).catch(() => undefined);
      throw e;
    }
    await deps.changed().catch(() => undefined);
    return { r, entry: await deps.history.append(ok(r)) };
  };
  const setTraffic = async (model: string, split: Pick<Split, 'variants' | 'strategy'> | undefined, call: OperatorCall) =>
    deps.traffic.setTraffic({ model, variants: split?.variants ?? [], strategy: split?.variants.length ? split.strategy : '' }, call);

  return {
    async listRegistry(req: Req<'listRegistry'>, call: OperatorCall) {
      const [repo, traffic] = await Promise.all([deps.control.listRepository({}, call), deps.traffic.getTraffic({}, call)]);
      return { models: registryModels(repo.versions, traffic.splits, req.name || undefined) };
    },

    async loadVersion(req: Req<'loadVersion'>, call: OperatorCall) {
      ref(req.name, req.version);
      const { r, entry } = await record(
        () => deps.control.loadModel({ name: req.name, version: req.version }, call),
        (out) => ({ action: 'load', model: req.name, version: req.version, workerIds: out.versions.map((v) => v.workerId) }),
        (e) => ({ action: 'load-failed', model: req.name, version: req.version, detail: e.rawMessage }),
      );
      return { workerIds: r.versions.map((v) => v.workerId), entry };
    },

    async unloadVersion(req: Req<'unloadVersion'>, call: OperatorCall) {
      ref(req.name, req.version);
      const { r, entry } = await record(
        () => deps.control.unloadModel({ name: req.name, version: req.version }, call),
        (out) => ({ action: 'unload', model: req.name, version: req.version, workerIds: out.workerIds }),
      );
      return { workerIds: r.workerIds, entry };
    },

    async changeTraffic(req: Req<'changeTraffic'>, call: OperatorCall) {
      if (!req.model) throw new ConnectError('model: the model name to split is required', Code.InvalidArgument);
      const { r, entry } = await record(
        () => setTraffic(req.model, req, call),
        (out) => ({ action: 'traffic', model: req.model, before: out.previous, after: out.split }),
      );
      return { split: r.split, entry };
    },

    async rollback(req: Req<'rollback'>, call: OperatorCall) {
      if (!req.model) throw new ConnectError('model: the model to roll back is required', Code.InvalidArgument);
      const last = await deps.history.toUndo(req.model);
      if (!last) throw new ConnectError(`${req.model}: no traffic change in the history to roll back`, Code.FailedPrecondition);
      // The split before it; one the file gave (not a run-time change) comes back by clearing the change.
      const before = last.before;
      const { r, entry } = await record(
        () => setTraffic(req.model, before?.changedAtRunTime ? before : undefined, call),
        (out) => ({ action: 'rollback', model: req.model, before: out.previous, after: out.split, detail: `undoes history entry ${last.seq}` }),
      );
      return { split: r.split, entry };
    },

    async listHistory(req: Req<'listHistory'>) {
      const limit = req.limit === 0 ? 100 : req.limit;
      if (limit > 1000) throw new ConnectError(`limit: at most 1000, got ${limit}`, Code.InvalidArgument);
      return { entries: await deps.history.list(req.model || undefined, limit) };
    },
  };
}

export type Registry = ReturnType<typeof registryOps>;

/** The registry as a gRPC / Connect service. */
export function registryService(registry: Registry): ServiceImpl<typeof ModelRegistryService> {
  return {
    listRegistry: (req, ctx) => registry.listRegistry(req, forwarded(ctx)),
    loadVersion: (req, ctx) => registry.loadVersion(req, forwarded(ctx)),
    unloadVersion: (req, ctx) => registry.unloadVersion(req, forwarded(ctx)),
    changeTraffic: (req, ctx) => registry.changeTraffic(req, forwarded(ctx)),
    rollback: (req, ctx) => registry.rollback(req, forwarded(ctx)),
    listHistory: (req) => registry.listHistory(req),
  };
}
