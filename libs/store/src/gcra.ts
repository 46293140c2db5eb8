import type { RateLimitOptions, RateLimitResult } from './store';

/**
 * Slack for float error in the GCRA arithmetic, in ms (TATs near 1.8e12 ms carry ~2e-4 ms of
 * rounding; periods that do not divide evenly by the limit add a little per call). The Lua
 * script in redis-scripts.ts uses the same constants: keep the two in step.
 */
export const GCRA_EPSILON_MS = 0.001;
const REMAINING_SLACK = 1e-6;

/** One GCRA decision, and the TAT to store (with its TTL) when the call took units. */
export interface GcraStep extends RateLimitResult {
  store?: { tat: number; ttlMs: number };
}

/**
 * The generic cell rate algorithm over the stored theoretical arrival time `stored` (ms, or
 * undefined when the key is absent) at time `now` (ms). The whole arithmetic of
 * `Store.rateLimit`, shared by MemoryStore and mirrored line by line in the Redis script.
 */
export function gcra(stored: number | undefined, now: number, opts: Required<RateLimitOptions>): GcraStep {
  const { limit, periodMs, cost, force } = opts;
  const interval = periodMs / limit;
  const tat = stored !== undefined && stored > now ? stored : now;
  const next = tat + cost * interval;
  const allowAt = next - periodMs;
  const remainingAt = (t: number) => Math.max(0, Math.min(limit, Math.floor((now + periodMs - t) / interval + REMAINING_SLACK)));
  if (!force && allowAt - now > GCRA_EPSILON_MS) {
    return {
      allowed: false,
      remaining: remainingAt(tat),
      retryAfterMs: Math.ceil(allowAt - now),
      resetMs: Math.max(0, Math.ceil(tat - now - GCRA_EPSILON_MS)),
    };
  }
  const resetMs = Math.max(0, Math.ceil(next - now - GCRA_EPSILON_MS));
  return {
    allowed: true,
    remaining: remainingAt(next),
    retryAfterMs: 0,
    resetMs,
    ...(next > now ? { store: { tat: next, ttlMs: Math.max(1, Math.ceil(next - now)) } } : {}),
  };
}
