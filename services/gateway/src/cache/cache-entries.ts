import type { Store } from '@tokenmesh/store';

import type { TextEvent } from '../pipeline/generate-text';
import { CACHE_FORMAT } from './cache-key';

/** Store keys (the store adds its own `tokenmesh:` prefix). */
export const entryKey = (hash: string): string => `gateway:cache:${hash}`;
export const lockKey = (hash: string): string => `gateway:cache-lock:${hash}`;

interface StoredEntry {
  readonly format: number;
  /** The text deltas in order, then the final event. */
  readonly events: readonly TextEvent[];
}

const isTextEvents = (v: unknown): v is TextEvent[] =>
  Array.isArray(v) && v.length > 0 && v.every((e: { type?: unknown }) => e?.type === 'text' || e?.type === 'done') && (v.at(-1) as TextEvent).type === 'done';

/**
 * The response cache's use of the shared `Store`: entries (a generation's TextEvents as JSON,
 * expiring after `ttlMs`) and the short cross-replica locks that make one replica generate while
 * the others wait for its entry.
 */
export class CacheEntries {
  constructor(
    private readonly store: Store,
    readonly ttlMs: number,
  ) {}

  /** The stored events, or null when absent, expired, unreadable or from another format. */
  async get(hash: string): Promise<TextEvent[] | null> {
    const raw = await this.store.get(entryKey(hash));
    if (raw === null) return null;
    try {
      const entry = JSON.parse(raw) as Partial<StoredEntry>;
      return entry.format === CACHE_FORMAT && isTextEvents(entry.events) ? [...entry.events] : null;
    } catch {
      return null;
    }
  }

  /** Stores a complete generation (text deltas, then the final event) for `ttlMs`. */
  async put(hash: string, events: readonly TextEvent[]): Promise<void> {
    if (!isTextEvents(events)) throw new RangeError('a cache entry ends with exactly one final event');
    const entry: StoredEntry = { format: CACHE_FORMAT, events };
    await this.store.set(entryKey(hash), JSON.stringify(entry), { ttlMs: this.ttlMs });
  }

  /** Takes the generation lock for `hash` for `ttlMs`; true when this call got it. */
  lock(hash: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.store.setIfAbsent(lockKey(hash), owner, ttlMs);
  }

  /** Extends a held lock (a long generation); false when it has already expired. */
  extendLock(hash: string, ttlMs: number): Promise<boolean> {
    return this.store.expire(lockKey(hash), ttlMs);
  }

  /** True while some replica holds the lock. */
  async locked(hash: string): Promise<boolean> {
    return (await this.store.get(lockKey(hash))) !== null;
  }

  /**
   * Releases the lock if `owner` still holds it. Check-then-delete is not atomic: if the lock
   * expired and another replica took it in between, that replica's lock goes too, and at worst a
   * third replica generates the same answer once more. The cache stays correct either way.
   */
  async unlock(hash: string, owner: string): Promise<void> {
    if ((await this.store.get(lockKey(hash))) === owner) await this.store.del(lockKey(hash));
  }
}
