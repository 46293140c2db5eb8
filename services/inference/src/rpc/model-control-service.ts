import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { type ModelMeta, readModelMeta, type RepositoryEntry, scanRepository } from '@tokenmesh/model';
import { ModelControlService, type ModelMetaSchema, type RepositoryVersionSchema } from '@tokenmesh/proto';
import { checkAdminToken } from '@tokenmesh/server';

import { loadVersion } from '../models/load-version';
import type { LoadedModel, ModelRepo } from '../models/model-repo';
import { changeRefusal } from './change-refusal';

export interface ModelControlOptions {
  /** INFERENCE_MODEL_REPOSITORY. */
  readonly repository: string;
  /** INFERENCE_ADMIN_TOKEN; none: loads and unloads are PERMISSION_DENIED (listing is open). */
  readonly adminToken?: string;
  /** What the worker serves changed (an immediate heartbeat). */
  readonly changed: () => void;
  readonly onChange?: (change: 'loaded' | 'unloaded', model: LoadedModel) => void;
}

/** model-meta.json as the API carries it. */
export function metaMessage(meta: ModelMeta | undefined): MessageInitShape<typeof ModelMetaSchema> | undefined {
  if (!meta) return undefined;
  const onnx = meta.files?.['onnx/model.onnx'];
  const q = meta.quantization;
  return {
    description: meta.description ?? '',
    source: meta.source ?? '',
    trainingData: meta.trainingData ?? '',
    hyperparametersJson: meta.hyperparameters ? JSON.stringify(meta.hyperparameters) : '',
    metricsJson: meta.metrics ? JSON.stringify(meta.metrics) : '',
    quantization: q ? [q.method, q.form && `(${q.form})`].filter(Boolean).join(' ') : '',
    knownLimitations: [...(meta.knownLimitations ?? [])],
    createdAt: meta.createdAt ?? '',
    onnxSha256: onnx?.sha256 ?? '',
    onnxBytes: BigInt(onnx?.bytes ?? 0),
  };
}

type Version = MessageInitShape<typeof RepositoryVersionSchema>;

/**
 * Model versions at run time (proto/tokenmesh/registry/v1, Triton's explicit model control):
 * LoadModel reads name@version from the repository, checks its files against model-meta.json,
 * starts it in worker threads of its own beside the running streams and warms it up before it is
 * served; UnloadModel stops new requests for it, waits for its streams, then frees it.
 */
export function modelControlService(repo: ModelRepo, workerId: string, opts: ModelControlOptions): ServiceImpl<typeof ModelControlService> {
  const version = (e: RepositoryEntry, loaded: boolean): Version => ({
    name: e.name,
    version: e.version,
    path: e.dir,
    meta: metaMessage(e.meta),
    loaded,
    workerId,
    problem: e.problem ?? '',
  });
  const served = () => repo.models.filter((m) => !m.adapter);
  const find = async (name: string, ver: string): Promise<RepositoryEntry> => {
    const all = await scanRepository(opts.repository);
    const e = all.find((v) => v.name === name && v.version === ver);
    if (e) return e;
    const others = all.filter((v) => v.name === name).map((v) => v.version);
    throw new ConnectError(
      `${name}@${ver} is not in the model repository ${opts.repository}${others.length ? ` (its versions there: ${others.join(', ')})` : ''}`,
      Code.NotFound,
    );
  };
  const required = (name: string, ver: string) => {
    if (!name) throw new ConnectError('name: the model is required', Code.InvalidArgument);
    if (!ver) throw new ConnectError('version: the version is required (one directory of the repository)', Code.InvalidArgument);
  };

  return {
    async listRepository() {
      const entries = await scanRepository(opts.repository);
      const ids = new Set(served().map((m) => m.id));
      const out = entries.map((e) => version(e, ids.has(`${e.name}@${e.version}`)));
      // Served from a directory outside the repository (INFERENCE_MODELS): listed too.
      for (const m of served()) {
        if (entries.some((e) => `${e.name}@${e.version}` === m.id)) continue;
        const meta = await readModelMeta(m.entry.dir).catch(() => undefined);
        out.push(version({ name: m.entry.name, version: m.entry.version, dir: m.entry.dir, ...(meta && { meta }) }, true));
      }
      return { versions: out };
    },

    async loadModel(req, ctx) {
      checkAdminToken(ctx.requestHeader, opts.adminToken, 'INFERENCE_ADMIN_TOKEN');
      required(req.name, req.version);
      const entry = await find(req.name, req.version);
      let model: LoadedModel;
      try {
        model = await loadVersion(repo, entry);
      } catch (err) {
        const refused = changeRefusal(err);
        if (refused) throw refused;
        // A broken version (a missing file included): the reason, never announced; the worker
        // serves on. NOT_FOUND is kept for "not in this repository", which routers skip.
        throw new ConnectError(`${entry.name}@${entry.version} cannot be loaded: ${(err as Error).message}`, Code.InvalidArgument);
      }
      opts.changed();
      opts.onChange?.('loaded', model);
      return { versions: [version(entry, true)] };
    },

    async unloadModel(req, ctx) {
      checkAdminToken(ctx.requestHeader, opts.adminToken, 'INFERENCE_ADMIN_TOKEN');
      required(req.name, req.version);
      // Out of the served list before its first await: announce that before its streams end.
      const unloading = repo.unloadModel(req.name, req.version);
      opts.changed();
      const model = await unloading.catch((err: unknown) => {
        throw changeRefusal(err) ?? err;
      });
      opts.onChange?.('unloaded', model);
      return { workerIds: [workerId] };
    },
  };
}
