import { StoreError } from './errors';
import { gcra } from './gcra';
import { type Entry, MemoryKeyspace } from './memory-keyspace';
import { DEFAULT_PREFIX, type IncrOptions, type RateLimitOptions, type RateLimitResult, type SetOptions, type Store } from './store';
import { checkFinite, checkInteger, checkKey, checkRateLimit, checkTtl, checkValue } from './validate';

export interface MemoryStoreOptions {
  /** Prepended to every key; default `tokenmesh:`. */
  prefix?: string;
  /** Share one keyspace between stores to make them see the same data; default: a private one. */
  keyspace?: MemoryKeyspace;
}

// Redis's own parsing rules: strict integers, and decimal floats.
const INTEGER = /^-?(0|[1-9]\d*)$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseInteger(s: string, what: string): number {
  const n = Number(s);
  if (!INTEGER.test(s) || !Number.isSafeInteger(n)) throw new StoreError('not-a-number', `${what} is not an integer`);
  return n;
}

function parseFloatStrict(s: string, what: string): number {
  if (!FLOAT.test(s)) throw new StoreError('not-a-number', `${what} is not a float`);
  return Number(s);
}

/**
 * The in-process `Store`, for `npm start` and unit tests. Every method runs synchronously on the
 * keyspace before it resolves, which makes each one atomic, as a Redis command or script is.
 */
export class MemoryStore implements Store {
  readonly keyspace: MemoryKeyspace;
  private readonly prefix: string;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.keyspace = opts.keyspace ?? new MemoryKeyspace();
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
  }

  private key(key: string): string {
    if (this.closed) throw new StoreError('closed', 'store is closed');
    checkKey(key);
    return this.prefix + key;
  }

  private entry<K extends Entry['kind']>(key: string, kind: K): Extract<Entry, { kind: K }> | undefined {
    const entry = this.keyspace.read(key);
    if (entry && entry.kind !== kind) throw new StoreError('wrong-type', `key holds a ${entry.kind}, not a ${kind}`);
    return entry as Extract<Entry, { kind: K }> | undefined;
  }

  private expiry(ttlMs: number | undefined): number | undefined {
    if (ttlMs === undefined) return undefined;
    checkTtl(ttlMs);
    return Date.now() + ttlMs;
  }

  async get(key: string): Promise<string | null> {
    return this.entry(this.key(key), 'string')?.value ?? null;
  }

  async set(key: string, value: string, opts: SetOptions = {}): Promise<void> {
    const k = this.key(key);
    checkValue(value);
    this.keyspace.write(k, { kind: 'string', value, expiresAt: this.expiry(opts.ttlMs) });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const k = this.key(key);
    checkValue(value);
    const expiresAt = this.expiry(ttlMs);
    if (this.keyspace.read(k)) return false;
    this.keyspace.write(k, { kind: 'string', value, expiresAt });
    return true;
  }

  async del(key: string): Promise<boolean> {
    return this.keyspace.delete(this.key(key));
  }

  async incrBy(key: string, n: number, opts: IncrOptions = {}): Promise<number> {
    const k = this.key(key);
    checkInteger(n);
    const expiresAt = this.expiry(opts.ttlMs);
    const entry = this.entry(k, 'string');
    const next = (entry ? parseInteger(entry.value, 'value') : 0) + n;
    if (entry) entry.value = String(next);
    else this.keyspace.write(k, { kind: 'string', value: String(next) });
    const live = entry ?? this.keyspace.read(k)!;
    if (expiresAt !== undefined && live.expiresAt === undefined) this.keyspace.setExpiry(live, expiresAt);
    return next;
  }

  async hIncrBy(key: string, field: string, n: number): Promise<number> {
    return this.hIncr(key, field, n, true);
  }

  async hIncrByFloat(key: string, field: string, n: number): Promise<number> {
    return this.hIncr(key, field, n, false);
  }

  private hIncr(key: string, field: string, n: number, integer: boolean): number {
    const k = this.key(key);
    checkKey(field, 'field');
    if (integer) checkInteger(n);
    else checkFinite(n);
    let entry = this.entry(k, 'hash');
    const old = entry?.fields.get(field);
    const base = old === undefined ? 0 : integer ? parseInteger(old, 'hash value') : parseFloatStrict(old, 'hash value');
    const next = base + n;
    if (!entry) this.keyspace.write(k, (entry = { kind: 'hash', fields: new Map() }));
    entry.fields.set(field, String(next));
    return next;
  }

  async hGetAll(key: string): Promise<Record<string, string>> {
    return Object.fromEntries(this.entry(this.key(key), 'hash')?.fields ?? []);
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    const k = this.key(key);
    const expiresAt = this.expiry(ttlMs);
    const entry = this.keyspace.read(k);
    if (!entry) return false;
    this.keyspace.setExpiry(entry, expiresAt);
    return true;
  }

  async rateLimit(key: string, opts: RateLimitOptions): Promise<RateLimitResult> {
    const k = this.key(key);
    const o = checkRateLimit(opts);
    const now = Date.now();
    const stored = this.entry(k, 'string')?.value;
    const { store, ...result } = gcra(stored === undefined ? undefined : parseFloatStrict(stored, 'value'), now, o);
    if (store) this.keyspace.write(k, { kind: 'string', value: String(store.tat), expiresAt: now + store.ttlMs });
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
