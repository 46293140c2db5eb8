import type { Redis } from 'ioredis';

/**
 * The store's Lua scripts: operations that must be atomic but are more than one Redis command.
 * Each becomes a method on the client (ioredis `defineCommand`: EVALSHA with a fallback to EVAL,
 * and the client's key prefix applied to KEYS). To add one (e.g. the rate limiter): add it here
 * and to `ScriptedRedis`, then give MemoryStore the same operation in plain synchronous code.
 */
const SCRIPTS = {
  /** INCRBY, then PEXPIRE when the key has no expiry. KEYS[1]; ARGV: increment, ttl ms. */
  tokenmeshIncrByWithTtl: {
    numberOfKeys: 1,
    lua: `
      local value = redis.call('INCRBY', KEYS[1], ARGV[1])
      if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
      return value`,
  },
} as const;

/** A client with the scripts defined. */
export interface ScriptedRedis extends Redis {
  tokenmeshIncrByWithTtl(key: string, n: number, ttlMs: number): Promise<number>;
}

/** Defines every script on `redis` (once per client). */
export function defineScripts(redis: Redis): ScriptedRedis {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
  return redis as ScriptedRedis;
}
