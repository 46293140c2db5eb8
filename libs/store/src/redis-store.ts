import { Redis } from 'ioredis';

import { StoreError } from './errors';
import { defineScripts, type ScriptedRedis } from './redis-scripts';
import { DEFAULT_PREFIX, type IncrOptions, type RateLimitOptions, type RateLimitResult, type SetOptions, type Store } from './store';
import { checkFinite, checkInteger, checkKey, checkRateLimit, checkTtl, checkValue } from './validate';

export interface RedisStoreOptions {
  /** Prepended to every key; default `tokenmesh:`. */
  prefix?: string;
  /** Give up the first connection after this long; default 5000. */
  connectTimeoutMs?: number;
  /**
   * Fail a command that has no reply after this long (ioredis `commandTimeout`); default: none
   * (a command waits through reconnects, up to 3 of them). Callers with a latency budget, such
   * as the gateway's rate limiter, set it so calls to a hung Redis do not pile up.
   */
  commandTimeoutMs?: number;
  /** Connection errors while reconnecting (commands in flight fail on their own). Default: ignored. */
  onError?: (err: Error) => void;
}

/** Turns Redis error replies into the codes both adapters share. */
function mapError(err: unknown): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('WRONGTYPE')) return new StoreError('wrong-type', message, { cause: err });
  if (/not an integer|not a (valid )?float/.test(message)) return new StoreError('not-a-number', message, { cause: err });
  if (/Connection is closed/.test(message)) return new StoreError('closed', 'store is closed', { cause: err });
  return err;
}

/** The `Store` over Redis (ioredis). Reconnects after a lost connection, with capped backoff. */
export class RedisStore implements Store {
  private closed = false;

  private constructor(private readonly redis: ScriptedRedis) {}

  /** @throws Error naming `url` when Redis cannot be reached within the connect timeout. */
  static async connect(url: string, opts: RedisStoreOptions = {}): Promise<RedisStore> {
    let ready = false;
    let store: RedisStore | undefined;
    const redis = new Redis(url, {
      keyPrefix: opts.prefix ?? DEFAULT_PREFIX,
      lazyConnect: true,
      connectTimeout: opts.connectTimeoutMs ?? 5000,
      ...(opts.commandTimeoutMs !== undefined ? { commandTimeout: opts.commandTimeoutMs } : {}),
      // Fail a command after a few reconnect attempts rather than queueing it for ever.
      maxRetriesPerRequest: 3,
      // Never retry the first connection (connect() reports it) nor after close().
      retryStrategy: (times) => (ready && !store?.closed ? Math.min(times * 100, 2000) : null),
    });
    let firstError: Error | undefined;
    redis.on('error', (err: Error) => {
      firstError ??= err;
      if (ready) opts.onError?.(err);
    });
    try {
      await redis.connect();
    } catch (err) {
      // Disconnecting an ended client arms a 2 s timer on its dead socket that holds the process.
      if (redis.status !== 'end') redis.disconnect();
      const why = (firstError ?? (err as Error)).message;
      throw new Error(`cannot connect to Redis at ${url}: ${why}`, { cause: firstError ?? err });
    }
    ready = true;
    store = new RedisStore(defineScripts(redis));
    return store;
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('closed', 'store is closed');
    try {
      return await op();
    } catch (err) {
      throw mapError(err);
    }
  }

  get(key: string): Promise<string | null> {
    return this.run(async () => {
      checkKey(key);
      return this.redis.get(key);
    });
  }

  set(key: string, value: string, opts: SetOptions = {}): Promise<void> {
    return this.run(async () => {
      checkKey(key);
      checkValue(value);
      if (opts.ttlMs === undefined) {
        await this.redis.set(key, value);
        return;
      }
      checkTtl(opts.ttlMs);
      await this.redis.set(key, value, 'PX', opts.ttlMs);
    });
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.run(async () => {
      checkKey(key);
      checkValue(value);
      checkTtl(ttlMs);
      return (await this.redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK';
    });
  }

  del(key: string): Promise<boolean> {
    return this.run(async () => {
      checkKey(key);
      return (await this.redis.del(key)) > 0;
    });
  }

  incrBy(key: string, n: number, opts: IncrOptions = {}): Promise<number> {
    return this.run(async () => {
      checkKey(key);
      checkInteger(n);
      if (opts.ttlMs === undefined) return this.redis.incrby(key, n);
      checkTtl(opts.ttlMs);
      return this.redis.tokenmeshIncrByWithTtl(key, n, opts.ttlMs);
    });
  }

  hIncrBy(key: string, field: string, n: number): Promise<number> {
    return this.run(async () => {
      checkKey(key);
      checkKey(field, 'field');
      checkInteger(n);
      return this.redis.hincrby(key, field, n);
    });
  }

  hIncrByFloat(key: string, field: string, n: number): Promise<number> {
    return this.run(async () => {
      checkKey(key);
      checkKey(field, 'field');
      checkFinite(n);
      return Number(await this.redis.hincrbyfloat(key, field, n));
    });
  }

  hGetAll(key: string): Promise<Record<string, string>> {
    return this.run(async () => {
      checkKey(key);
      return this.redis.hgetall(key);
    });
  }

  expire(key: string, ttlMs: number): Promise<boolean> {
    return this.run(async () => {
      checkKey(key);
      checkTtl(ttlMs);
      return (await this.redis.pexpire(key, ttlMs)) === 1;
    });
  }

  rateLimit(key: string, opts: RateLimitOptions): Promise<RateLimitResult> {
    return this.run(async () => {
      checkKey(key);
      const o = checkRateLimit(opts);
      const [allowed, remaining, retryAfterMs, resetMs] = await this.redis.tokenmeshRateLimit(key, o.limit, o.periodMs, o.cost, o.force ? 1 : 0);
      return { allowed: allowed === 1, remaining, retryAfterMs, resetMs };
    });
  }

  /** QUIT (replies to commands in flight first); a dead connection is just dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }
}
