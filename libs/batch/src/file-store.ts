import { randomBytes } from 'node:crypto';

import { Code, ConnectError } from '@connectrpc/connect';
import { BusError, type ObjectBucket, type StoredObject } from '@tokenmesh/bus';

/** The bucket every gateway replica (and the batch service) keeps files in. */
export const FILES_BUCKET = 'TOKENMESH_FILES';

/** OpenAI's File object, as `/v1/files` answers it. */
export interface FileObject {
  readonly id: string;
  readonly object: 'file';
  readonly bytes: number;
  /** Unix seconds. */
  readonly created_at: number;
  readonly filename: string;
  readonly purpose: string;
  readonly status: 'processed';
  readonly status_details: null;
  readonly expires_at: null;
}

export interface NewFile {
  readonly owner: string;
  readonly filename: string;
  readonly purpose: string;
  readonly data: Uint8Array;
}

/**
 * Files by owner (the API key's name): a file is stored with its owner, and every read, listing
 * and delete is limited to the caller's own, so another key's file is "no such file" — never
 * "forbidden", which would say it exists (OWASP API1, broken object level authorization).
 */
export class FileStore {
  private bucket?: Promise<ObjectBucket>;

  /** `open` is called on first use (and again after a failure): a gateway starts while NATS is slow. */
  constructor(private readonly open: () => Promise<ObjectBucket>) {}

  private objects(): Promise<ObjectBucket> {
    this.bucket ??= this.open().catch((err: unknown) => {
      this.bucket = undefined;
      throw storeFailure(err);
    });
    return this.bucket;
  }

  /** One bucket call, its failures as the API's: an outage is 503, a full store 429. */
  private async call<T>(f: (b: ObjectBucket) => Promise<T>): Promise<T> {
    const bucket = await this.objects();
    try {
      return await f(bucket);
    } catch (err) {
      throw storeFailure(err);
    }
  }

  /** Stores a new file; `id` for a file whose id is derived (a batch's output: written again, the same file). */
  async create(f: NewFile, id = newFileId()): Promise<FileObject> {
    const createdAt = Math.floor(Date.now() / 1000);
    const meta = { owner: f.owner, filename: f.filename, purpose: f.purpose, created_at: String(createdAt) };
    const stored = await this.call((b) => b.put(id, f.data, meta));
    return fileObject(stored);
  }

  /** The caller's file, or undefined when there is none of that id that the caller owns. */
  async get(owner: string, id: string): Promise<FileObject | undefined> {
    if (!isFileId(id)) return undefined;
    const info = await this.call((b) => b.info(id));
    return info && info.meta['owner'] === owner ? fileObject(info) : undefined;
  }

  async content(owner: string, id: string): Promise<{ file: FileObject; data: Uint8Array } | undefined> {
    const file = await this.get(owner, id);
    if (!file) return undefined;
    const data = await this.call((b) => b.get(id));
    return data && { file, data };
  }

  /** The caller's files, newest first (OpenAI's default order), optionally of one purpose. */
  async list(owner: string, purpose?: string): Promise<FileObject[]> {
    const all = await this.call((b) => b.list());
    return all
      .filter((o) => isFileId(o.name) && o.meta['owner'] === owner && (purpose === undefined || o.meta['purpose'] === purpose))
      .sort((a, b) => b.storedAtMs - a.storedAtMs)
      .map(fileObject);
  }

  /** Whether the caller had such a file (now deleted). */
  async delete(owner: string, id: string): Promise<boolean> {
    if (!(await this.get(owner, id))) return false;
    return this.call((b) => b.delete(id));
  }
}

const FILE_ID = /^file-[0-9a-f]{24}$/;

export function newFileId(): string {
  return `file-${randomBytes(12).toString('hex')}`;
}

export function isFileId(id: string): boolean {
  return FILE_ID.test(id);
}

function fileObject(o: StoredObject): FileObject {
  return {
    id: o.name,
    object: 'file',
    bytes: o.size,
    created_at: Number(o.meta['created_at'] ?? Math.floor(o.storedAtMs / 1000)),
    filename: o.meta['filename'] ?? o.name,
    purpose: o.meta['purpose'] ?? 'batch',
    status: 'processed',
    status_details: null,
    expires_at: null,
  };
}

function storeFailure(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof BusError && err.code === 'conflict') return new ConnectError(`the file store is full: ${err.message}`, Code.ResourceExhausted);
  return new ConnectError(`the file store is unavailable: ${(err as Error).message}`, Code.Unavailable);
}
