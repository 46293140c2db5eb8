import { checkVersionFiles, type RepositoryEntry } from '@tokenmesh/model';

import type { LoadedModel, ModelRepo } from './model-repo';
import { warmUpModel } from './warm-up';

/**
 * A repository version loaded beside the running models: its files checked against
 * model-meta.json first (a truncated copy never reaches onnxruntime), then started and warmed up,
 * then served.
 * @throws ModelVersionError (files), ModelChangeError (served already), or the worker thread's
 *   error naming what does not fit (bad ONNX, config against graph)
 */
export async function loadVersion(repo: ModelRepo, entry: RepositoryEntry): Promise<LoadedModel> {
  await checkVersionFiles(entry);
  // Checked just now against model-meta.json: the served digest, without reading the file again.
  const checked = entry.meta?.files?.['onnx/model.onnx']?.sha256;
  return repo.loadModel({ name: entry.name, version: entry.version, dir: entry.dir }, warmUpModel, checked);
}
