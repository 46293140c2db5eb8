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
  /**
   * GCRA, as `gcra()` in gcra.ts (keep the two in step). KEYS[1] holds the theoretical arrival
   * time in ms (a float); ARGV: limit, period ms, cost, force (1/0). Now is the Redis server's
   * clock, so every gateway replica decides on one clock. Returns {allowed 1/0, remaining,
   * retry-after ms, reset ms}.
   */
  tokenmeshRateLimit: {
    numberOfKeys: 1,
    lua: `
      -- TIME before a write needs effects replication: the default since Redis 5, asked for on 3.2/4.
      if redis.replicate_commands then redis.replicate_commands() end
      local time = redis.call('TIME')
      local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
      local limit, period, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
      local force = ARGV[4] == '1'
      local epsilon, slack = 0.001, 1e-6
      local interval = period / limit
      local tat = now
      local raw = redis.call('GET', KEYS[1])
      if raw then
        local stored = tonumber(raw)
        if not stored then return redis.error_reply('ERR value is not a valid float') end
        if stored > now then tat = stored end
      end
      local function remaining_at(t)
        return math.max(0, math.min(limit, math.floor((now + period - t) / interval + slack)))
      end
      local nxt = tat + cost * interval
      local allow_at = nxt - period
      if not force and allow_at - now > epsilon then
        return {0, remaining_at(tat), math.ceil(allow_at - now), math.max(0, math.ceil(tat - now - epsilon))}
      end
      if nxt > now then
        redis.call('SET', KEYS[1], string.format('%.17g', nxt), 'PX', string.format('%.0f', math.max(1, math.ceil(nxt - now))))
      end
      return {1, remaining_at(nxt), 0, math.max(0, math.ceil(nxt - now - epsilon))}`,
  },
} as const;

/** A client with the scripts defined. */
export interface ScriptedRedis extends Redis {
  tokenmeshIncrByWithTtl(key: string, n: number, ttlMs: number): Promise<number>;
  tokenmeshRateLimit(key: string, limit: number, periodMs: number, cost: number, force: 0 | 1): Promise<[number, number, number, number]>;
}

/** Defines every script on `redis` (once per client). */
export function defineScripts(redis: Redis): ScriptedRedis {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
  }
  return redis as ScriptedRedis;
}
