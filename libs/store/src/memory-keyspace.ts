/** A string value or a hash, with an optional absolute expiry (epoch ms). */
export type Entry = { kind: 'string'; value: string; expiresAt?: number } | { kind: 'hash'; fields: Map<string, string>; expiresAt?: number };

/**
 * The in-memory stand-in for a Redis server: full (prefixed) keys to entries. Expired entries
 * are dropped when read and by a periodic sweep, so keys written once and never read again do
 * not pile up; the sweep timer is unref'd and runs only while some key has an expiry. Stores
 * sharing a keyspace see each other's keys, as clients of one Redis do.
 */
export class MemoryKeyspace {
  private readonly entries = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly sweepIntervalMs = 1000) {}

  /** The live entry at `key`; an expired one is deleted and reads as absent. */
  read(key: string, now = Date.now()): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  write(key: string, entry: Entry): void {
    this.entries.set(key, entry);
    if (entry.expiresAt !== undefined) this.startSweeping();
  }

  /** Sets or clears the expiry of a live entry. */
  setExpiry(entry: Entry, expiresAt: number | undefined): void {
    entry.expiresAt = expiresAt;
    if (expiresAt !== undefined) this.startSweeping();
  }

  delete(key: string): boolean {
    return this.read(key) !== undefined && this.entries.delete(key);
  }

  /** Entries held, expired ones not yet dropped included: what the keyspace costs in memory. */
  get size(): number {
    return this.entries.size;
  }

  /** Live keys, prefixes included (for tests and debugging). */
  keys(): string[] {
    const now = Date.now();
    return [...this.entries.keys()].filter((k) => this.read(k, now) !== undefined);
  }

  private startSweeping(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), this.sweepIntervalMs).unref();
  }

  private sweep(): void {
    const now = Date.now();
    let expiring = 0;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt === undefined) continue;
      if (entry.expiresAt <= now) this.entries.delete(key);
      else expiring++;
    }
    if (expiring === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
