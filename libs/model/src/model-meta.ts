import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** One file a version's metadata vouches for. */
export interface MetaFile {
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * model-meta.json: what a model repository says about a version (written by the model pipeline
 * beside the model card). Everything but `files` is for people; `files` is checked at load.
 */
export interface ModelMeta {
  readonly name?: string;
  readonly version?: string;
  readonly description?: string;
  readonly source?: string;
  readonly trainingData?: string;
  readonly hyperparameters?: Record<string, unknown>;
  readonly metrics?: Record<string, unknown>;
  /** Absent or null: not quantized. */
  readonly quantization?: { method?: string; form?: string; weights?: string; activations?: string } | null;
  readonly knownLimitations?: readonly string[];
  readonly createdAt?: string;
  /** Relative path → checksum and size. */
  readonly files?: Readonly<Record<string, MetaFile>>;
}

export const MODEL_META_FILE = 'model-meta.json';

/** Why a version directory cannot be served as it is: the file and what is wrong with it. */
export class ModelVersionError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'ModelVersionError';
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The directory's model-meta.json, undefined when it has none (the committed fixtures without one
 * are served as before).
 * @throws ModelVersionError when the file is not JSON or a field has the wrong type
 */
export async function readModelMeta(dir: string): Promise<ModelMeta | undefined> {
  const path = join(dir, MODEL_META_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelVersionError(path, `not JSON (${(err as Error).message})`);
  }
  if (!isRecord(raw)) throw new ModelVersionError(path, 'expected a JSON object');
  for (const k of ['name', 'version', 'description', 'source', 'trainingData', 'createdAt'] as const) {
    if (raw[k] !== undefined && raw[k] !== null && typeof raw[k] !== 'string') throw new ModelVersionError(path, `${k}: expected a string`);
  }
  for (const k of ['hyperparameters', 'metrics', 'files'] as const) {
    if (raw[k] !== undefined && raw[k] !== null && !isRecord(raw[k])) throw new ModelVersionError(path, `${k}: expected an object`);
  }
  if (raw['quantization'] != null && !isRecord(raw['quantization'])) throw new ModelVersionError(path, 'quantization: expected an object or null');
  if (raw['knownLimitations'] != null && !(Array.isArray(raw['knownLimitations']) && raw['knownLimitations'].every((l) => typeof l === 'string')))
    throw new ModelVersionError(path, 'knownLimitations: expected an array of strings');
  for (const [file, f] of Object.entries((raw['files'] as Record<string, unknown> | undefined) ?? {})) {
    if (!isRecord(f) || typeof f['sha256'] !== 'string' || !/^[0-9a-f]{64}$/.test(f['sha256']) || typeof f['bytes'] !== 'number')
      throw new ModelVersionError(path, `files.${file}: expected {"sha256": <64 hex digits>, "bytes": <number>}`);
    if (file.startsWith('/') || file.split('/').includes('..')) throw new ModelVersionError(path, `files.${file}: must be a path inside the version directory`);
  }
  // Drop JSON nulls: absent and null mean the same to every reader.
  return Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)) as ModelMeta;
}

/** SHA-256 (hex) over `prefix` and the files' bytes, in order, streamed (a model file may be large). */
export async function filesSha256(files: readonly string[], prefix = ''): Promise<string> {
  const hash = createHash('sha256').update(prefix);
  for (const file of files) for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** SHA-256 (hex) of one file, as model-meta.json lists it. */
export const fileSha256 = (path: string): Promise<string> => filesSha256([path]);

/**
 * Checks every file the metadata lists against its size and checksum, so a truncated copy or a
 * half-synced directory is refused before onnxruntime sees it.
 * @throws ModelVersionError naming the first file that is missing or differs
 */
export async function verifyMetaFiles(dir: string, meta: ModelMeta): Promise<void> {
  for (const [file, want] of Object.entries(meta.files ?? {})) {
    const path = join(dir, file);
    const size = await stat(path).then(
      (s) => s.size,
      () => undefined,
    );
    if (size === undefined) throw new ModelVersionError(path, 'missing (model-meta.json lists it)');
    if (size !== want.bytes) throw new ModelVersionError(path, `${size} bytes, model-meta.json says ${want.bytes} (truncated or replaced?)`);
    const sha = await fileSha256(path);
    if (sha !== want.sha256) throw new ModelVersionError(path, `SHA-256 ${sha.slice(0, 12)}…, model-meta.json says ${want.sha256.slice(0, 12)}…`);
  }
}
