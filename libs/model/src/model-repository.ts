import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { MODEL_META_FILE, type ModelMeta, ModelVersionError, readModelMeta, verifyMetaFiles } from './model-meta';

/** One model version found in a repository. */
export interface RepositoryEntry {
  readonly name: string;
  readonly version: string;
  /** Absolute. */
  readonly dir: string;
  readonly meta?: ModelMeta;
  /** Set when the directory cannot be loaded as it is (then it is listed, never loaded). */
  readonly problem?: string;
}

const PART = /^[\w.-]+$/;
/** What every servable version holds; the worker checks the rest (shapes, exports) when it loads. */
const REQUIRED = ['config.json', 'tokenizer.json', join('onnx', 'model.onnx')];

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

const isVersionDir = (dir: string) => exists(join(dir, 'config.json'));

/**
 * The versions in a model repository. Two layouts, both Hugging Face model directories at the
 * leaves:
 * - `<root>/<dir>/` holding config.json: one version, named by its model-meta.json (`name`,
 *   `version`), else `<dir>` version 1 — the committed models/ directory as it is;
 * - `<root>/<name>/<version>/` (Triton's layout): every subdirectory holding config.json is a
 *   version of `<name>`.
 * PEFT adapter directories (adapter_config.json) are not model versions and are skipped.
 * Never throws for one bad directory: it is listed with its `problem`.
 */
export async function scanRepository(root: string): Promise<RepositoryEntry[]> {
  const base = resolve(root);
  const found: RepositoryEntry[] = [];
  for (const name of await subdirs(base)) {
    const dir = join(base, name);
    if (await exists(join(dir, 'adapter_config.json'))) continue;
    if (await isVersionDir(dir)) {
      found.push(await describe(dir, name, undefined));
      continue;
    }
    for (const version of await subdirs(dir)) {
      const vdir = join(dir, version);
      if (await isVersionDir(vdir)) found.push(await describe(vdir, name, version));
    }
  }
  // One name@version twice: neither is loadable until an operator removes one.
  const ids = new Map<string, number>();
  for (const e of found) ids.set(`${e.name}@${e.version}`, (ids.get(`${e.name}@${e.version}`) ?? 0) + 1);
  return found.map((e) =>
    (ids.get(`${e.name}@${e.version}`) ?? 0) > 1 && !e.problem ? { ...e, problem: `${e.name}@${e.version} is in the repository more than once` } : e,
  );
}

/**
 * The name@version of a version directory that is not in a Triton `<name>/<version>/` layout
 * (a repository's `<dir>/`, a bare INFERENCE_MODELS path): its model-meta.json's name and
 * version, each defaulting to the directory's name and 1.
 */
export function versionOf(meta: Pick<ModelMeta, 'name' | 'version'> | undefined, dirName: string): { name: string; version: string } {
  return { name: meta?.name ?? dirName, version: meta?.version ?? '1' };
}

async function describe(dir: string, dirName: string, version: string | undefined): Promise<RepositoryEntry> {
  let meta: ModelMeta | undefined;
  let problem: string | undefined;
  try {
    meta = await readModelMeta(dir);
  } catch (err) {
    problem = (err as Error).message;
  }
  const { name, version: ver } = version === undefined ? versionOf(meta, dirName) : { name: dirName, version };
  if (!problem && version !== undefined && ((meta?.name && meta.name !== dirName) || (meta?.version && meta.version !== version)))
    problem = `${join(dir, MODEL_META_FILE)}: names ${meta.name ?? dirName}@${meta.version ?? version}, its place in the repository says ${dirName}@${version}`;
  if (!problem && (!PART.test(name) || !PART.test(ver)))
    problem = `${dir}: name ${JSON.stringify(name)} or version ${JSON.stringify(ver)} has characters other than letters, digits, '_', '-' and '.'`;
  return { name, version: ver, dir, ...(meta && { meta }), ...(problem && { problem }) };
}

/**
 * Checks what can be checked without onnxruntime before a load: the required files exist and
 * every file model-meta.json lists has its size and checksum.
 * @throws ModelVersionError naming the file
 */
export async function checkVersionFiles(entry: RepositoryEntry): Promise<void> {
  if (entry.problem) throw new ModelVersionError(entry.dir, entry.problem);
  for (const f of REQUIRED) {
    if (!(await exists(join(entry.dir, f))))
      throw new ModelVersionError(join(entry.dir, f), 'missing: a model version needs config.json, tokenizer.json and onnx/model.onnx');
  }
  if (entry.meta) await verifyMetaFiles(entry.dir, entry.meta);
}
