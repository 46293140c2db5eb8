import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { AdapterError } from '@tokenmesh/model';
import { type AdapterSchema, AdapterService } from '@tokenmesh/proto';
import { checkAdminToken } from '@tokenmesh/server';

import type { LoadedModel, ModelRepo } from '../models/model-repo';
import { changeRefusal } from './change-refusal';

export interface AdapterServiceOptions {
  /** INFERENCE_ADMIN_TOKEN; none: every call is PERMISSION_DENIED. */
  readonly adminToken?: string;
  /** What the worker serves changed (an immediate heartbeat). */
  readonly changed: () => void;
  /** Told of every change, for the worker's log. */
  readonly onChange?: (change: 'loaded' | 'unloaded', model: LoadedModel) => void;
}

/** A refusal as the code a caller acts on; the message names the file, field or limit at fault. */
function asConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const refused = changeRefusal(err);
  if (refused) return refused;
  if (err instanceof AdapterError) return new ConnectError(err.message, err.detail.startsWith('not found') ? Code.NotFound : Code.InvalidArgument);
  // The base cannot serve adapters (no LoRA export) or the worker failed.
  return new ConnectError((err as Error).message, Code.Unimplemented);
}

function describe(m: LoadedModel, workerId: string): MessageInitShape<typeof AdapterSchema> {
  const a = m.adapter!;
  return { name: m.entry.name, base: a.base, path: m.entry.dir, rank: a.rank, digest: m.digest, workerId, fromConfig: a.fromConfig };
}

/** The worker's run-time adapters (see proto/tokenmesh/adapter/v1): every call needs the admin token. */
export function adapterService(repo: ModelRepo, workerId: string, opts: AdapterServiceOptions): ServiceImpl<typeof AdapterService> {
  const guard = async <T>(header: Headers, f: () => Promise<T>): Promise<T> => {
    checkAdminToken(header, opts.adminToken, 'INFERENCE_ADMIN_TOKEN');
    try {
      return await f();
    } catch (err) {
      throw asConnectError(err);
    }
  };
  return {
    loadAdapter: (req, ctx) =>
      guard(ctx.requestHeader, async () => {
        if (!req.path) throw new ConnectError('path: the adapter directory is required', Code.InvalidArgument);
        const model = await repo.loadAdapter(req.path, req.name);
        opts.changed();
        opts.onChange?.('loaded', model);
        return { adapters: [describe(model, workerId)] };
      }),
    unloadAdapter: (req, ctx) =>
      guard(ctx.requestHeader, async () => {
        if (!req.name) throw new ConnectError('name: the adapter to unload is required', Code.InvalidArgument);
        // The adapter stops being served at once: announce that before its streams end.
        const unloading = repo.unloadAdapter(req.name);
        opts.changed();
        const model = await unloading;
        opts.onChange?.('unloaded', model);
        return { workerIds: [workerId] };
      }),
    listAdapters: (_req, ctx) => guard(ctx.requestHeader, async () => ({ adapters: repo.models.filter((m) => m.adapter).map((m) => describe(m, workerId)) })),
  };
}
