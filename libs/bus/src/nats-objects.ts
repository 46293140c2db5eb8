import { type JetStreamClient, NatsError, type ObjectInfo, type ObjectStore, StorageType } from 'nats';

import { BusError } from './errors';
import { mapNatsError } from './nats-codec';
import { type BucketOptions, checkObjectName, type ObjectBucket, type StoredObject } from './objects';

/**
 * A bucket of JetStream's object store (file storage, so objects outlive a server restart). The
 * metadata travels as the object's description (JSON): object headers and metadata need
 * nats-server 2.10, description works on the 2.9 this machine's Debian ships.
 */
export async function natsObjectBucket(js: JetStreamClient, name: string, opts: BucketOptions): Promise<ObjectBucket> {
  let os: ObjectStore;
  try {
    os = await js.views.os(name, { storage: StorageType.File, ...(opts.maxBytes !== undefined ? { max_bytes: opts.maxBytes } : {}) });
  } catch (err) {
    throw mapNatsError(err, `object bucket ${name}`);
  }
  const call = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      // JetStream's "maximum bytes exceeded" (10077) and "insufficient resources" (10023).
      const code = err instanceof NatsError ? err.api_error?.err_code : undefined;
      if (code === 10077 || code === 10023) {
        throw new BusError('conflict', `object store ${name} is full: ${what}`, { cause: err });
      }
      throw mapNatsError(err, `object ${what} in ${name}`);
    }
  };
  return {
    put: async (key, data, meta = {}) => (
      checkObjectName(key),
      call(`put ${key}`, async () => stored(await os.putBlob({ name: key, description: JSON.stringify(meta) }, data)))
    ),
    get: async (key) => (checkObjectName(key), call(`get ${key}`, async () => (await os.getBlob(key)) ?? undefined)),
    info: async (key) => (
      checkObjectName(key),
      call(`info ${key}`, async () => {
        const i = await os.info(key);
        return i && !i.deleted ? stored(i) : undefined;
      })
    ),
    list: () => call('list', async () => (await os.list()).filter((i) => !i.deleted).map(stored)),
    delete: async (key) => (
      checkObjectName(key),
      call(`delete ${key}`, async () => {
        const i = await os.info(key);
        if (!i || i.deleted) return false;
        await os.delete(key);
        return true;
      })
    ),
  };
}

function stored(i: ObjectInfo): StoredObject {
  let meta: Record<string, string> = {};
  try {
    const parsed: unknown = JSON.parse(i.description ?? '{}');
    if (parsed && typeof parsed === 'object') meta = parsed as Record<string, string>;
  } catch {
    // Written by someone else: an object without our metadata.
  }
  return { name: i.name, size: i.size, digest: i.digest, storedAtMs: Date.parse(i.mtime), meta };
}
