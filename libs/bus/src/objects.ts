import { BusError } from './errors';

/**
 * Files kept beside the streams (the JetStream object store; in memory for `npm start`): whole
 * objects under a name in a bucket, with a few string fields of metadata. For files of requests
 * and results (the batch lane), not for events.
 */
export interface StoredObject {
  readonly name: string;
  readonly size: number;
  /** `SHA-256=<base64url, padded>` of the bytes, as JetStream's object store writes it. */
  readonly digest: string;
  /** When it was stored, ms since the epoch. */
  readonly storedAtMs: number;
  readonly meta: Readonly<Record<string, string>>;
}

export interface BucketOptions {
  /** Refuse puts past this many bytes in the bucket; default unlimited. */
  maxBytes?: number;
}

/** One bucket. Names: letters, digits, `-`, `_`, `.` and `=`, at most 255 characters. */
export interface ObjectBucket {
  /** Stores (or replaces) the object. @throws BusError `invalid` (a bad name), `conflict` (the bucket is full) */
  put(name: string, data: Uint8Array, meta?: Record<string, string>): Promise<StoredObject>;
  /** The bytes, or undefined when there is no such object. */
  get(name: string): Promise<Uint8Array | undefined>;
  info(name: string): Promise<StoredObject | undefined>;
  /** Every object in the bucket, oldest first. */
  list(): Promise<StoredObject[]>;
  /** Whether there was such an object. */
  delete(name: string): Promise<boolean>;
}

const NAME = /^[\w.=-]{1,255}$/;

const BUCKET = /^[-\w]{1,64}$/;

/** Bucket names as JetStream takes them: letters, digits, `-` and `_`. @throws BusError `invalid` */
export function checkBucket(name: string): void {
  if (typeof name !== 'string' || !BUCKET.test(name)) throw new BusError('invalid', `invalid bucket name ${JSON.stringify(name)}`);
}

/** @throws BusError `invalid` */
export function checkObjectName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) throw new BusError('invalid', `invalid object name ${JSON.stringify(name)}`);
}

/** `bucket` with `check` run before each call (e.g. "is the bus still open"). */
export function guardedBucket(bucket: ObjectBucket, check: () => void): ObjectBucket {
  return {
    put: async (name, data, meta) => (check(), bucket.put(name, data, meta)),
    get: async (name) => (check(), bucket.get(name)),
    info: async (name) => (check(), bucket.info(name)),
    list: async () => (check(), bucket.list()),
    delete: async (name) => (check(), bucket.delete(name)),
  };
}
