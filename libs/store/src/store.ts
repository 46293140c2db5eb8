/** Keys are stored under this prefix unless an adapter is given another. */
export const DEFAULT_PREFIX = 'tokenmesh:';

export interface SetOptions {
  /** Expire the key this long after the write; without it the key has no expiry (even if it had one). */
  ttlMs?: number;
}

export interface IncrOptions {
  /**
   * Give the key this expiry when it has none (as when the increment creates it). An existing
   * expiry is kept, so a counter per fixed window does not slide with each hit.
   */
  ttlMs?: number;
}

/** A GCRA rate limit: `limit` units per `periodMs`, of which the whole `limit` may come at once. */
export interface RateLimitOptions {
  /** Units allowed per period (requests, tokens); a positive safe integer. */
  limit: number;
  /** The period in ms; a positive integer. The bucket refills at `limit / periodMs`. */
  periodMs: number;
  /** Units this call takes; a non-negative safe integer, default 1. 0 asks without taking. */
  cost?: number;
  /**
   * Take the units even when they do not fit, driving the bucket into debt that later calls
   * wait out (tokens already generated are charged this way). Default false.
   */
  force?: boolean;
}

/** The decision of `Store.rateLimit`, in whole units and milliseconds. */
export interface RateLimitResult {
  /** True when the units were taken (always, with `force`). */
  allowed: boolean;
  /** Units that one more call could take right now (0 when the bucket is empty or in debt). */
  remaining: number;
  /** When refused: ms until a call with the same cost would be allowed; 0 when allowed. */
  retryAfterMs: number;
  /** Ms until the bucket is full again (0 when it is full). */
  resetMs: number;
}

/**
 * The key-value store: the response cache, single-flight locks, rate-limit counters, job results
 * and feedback aggregates. Adapters: `RedisStore` and `MemoryStore`, held to one contract suite
 * (libs/store/test/contract).
 *
 * Values are UTF-8 strings (JSON for structured data; base64 for the rare binary value): every
 * caller stores text, and Redis hash replies are strings anyway. Keys are prefixed by the
 * adapter (`tokenmesh:` by default); callers never write the prefix.
 *
 * Each method is one atomic operation. New atomic operations (e.g. the rate limiter) are added
 * as methods here, implemented as a Lua script in redis-scripts.ts and as a synchronous function
 * in MemoryStore (atomic because it never awaits), and covered by the contract suite.
 *
 * Errors are `StoreError`s: `wrong-type` (string op on a hash or the reverse), `not-a-number`
 * (incrementing a non-number), `invalid` (bad argument), `closed`.
 */
export interface Store {
  /** The string at `key`, or null when absent or expired. */
  get(key: string): Promise<string | null>;
  set(key: string, value: string, opts?: SetOptions): Promise<void>;
  /** Sets `key` only when absent, expiring after `ttlMs`; true when this call set it (a lock won). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** True when the key existed. */
  del(key: string): Promise<boolean>;
  /** Adds integer `n` (may be negative) to the integer at `key` (absent: 0); returns the new value. */
  incrBy(key: string, n: number, opts?: IncrOptions): Promise<number>;
  /** Adds integer `n` to hash field `field`; returns the new value. */
  hIncrBy(key: string, field: string, n: number): Promise<number>;
  /** Adds `n` to hash field `field` as a float; returns the new value. */
  hIncrByFloat(key: string, field: string, n: number): Promise<number>;
  /** All fields of the hash at `key`; `{}` when absent. */
  hGetAll(key: string): Promise<Record<string, string>>;
  /** Expires `key` after `ttlMs`; false when there is no such key. */
  expire(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Generic cell rate algorithm on `key`: the key holds the theoretical arrival time (TAT, ms) and
   * expires once the bucket is full again. A call costing n is allowed when the TAT advanced by
   * n emission intervals (`periodMs / limit`) stays within one period of now; allowed (or forced)
   * calls store the advanced TAT, refused ones change nothing. RedisStore reads the clock of the
   * Redis server (every replica sees one clock); MemoryStore reads the process's.
   */
  rateLimit(key: string, opts: RateLimitOptions): Promise<RateLimitResult>;
  /** Disconnects; later calls reject with `closed`. Idempotent. */
  close(): Promise<void>;
}
