import { createHash } from 'node:crypto';

import { BusError } from './errors';
import { type BucketOptions, checkObjectName, type ObjectBucket, type StoredObject } from './objects';

/** JetStream's digest format: SHA-256, base64url with padding. */
export function sha256Digest(data: Uint8Array): string {
  return `SHA-256=${createHash('sha256').update(data).digest('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;
}

/** A bucket of a MemoryBroker: what every connection to the broker sees. Copies in and out, as over a socket. */
export class MemoryObjectBucket implements ObjectBucket {
  private readonly objects = new Map<string, { info: StoredObject; data: Uint8Array }>();

  constructor(private opts: BucketOptions = {}) {}

  configure(opts: BucketOptions): void {
    this.opts = opts;
  }

  private bytes(): number {
    let n = 0;
    for (const o of this.objects.values()) n += o.info.size;
    return n;
  }

  async put(name: string, data: Uint8Array, meta: Record<string, string> = {}): Promise<StoredObject> {
    checkObjectName(name);
    const replaced = this.objects.get(name)?.info.size ?? 0;
    if (this.opts.maxBytes !== undefined && this.bytes() - replaced + data.length > this.opts.maxBytes) {
      throw new BusError('conflict', `object store is full: ${name} (${data.length} bytes) does not fit in ${this.opts.maxBytes} bytes`);
    }
    const info: StoredObject = { name, size: data.length, digest: sha256Digest(data), storedAtMs: Date.now(), meta: { ...meta } };
    // Re-inserted, so list() keeps the order of the last put (as the object store's stream does).
    this.objects.delete(name);
    this.objects.set(name, { info, data: new Uint8Array(data) });
    return info;
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    checkObjectName(name);
    const o = this.objects.get(name);
    return o && new Uint8Array(o.data);
  }

  async info(name: string): Promise<StoredObject | undefined> {
    checkObjectName(name);
    return this.objects.get(name)?.info;
  }

  async list(): Promise<StoredObject[]> {
    return [...this.objects.values()].map((o) => o.info);
  }

  async delete(name: string): Promise<boolean> {
    checkObjectName(name);
    return this.objects.delete(name);
  }
}
