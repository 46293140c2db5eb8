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
  return repo.loadModel({ name: entry.name, version: entry.version, dir: entry.dir }, warmUpModel);
}
