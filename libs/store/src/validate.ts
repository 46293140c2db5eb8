import { StoreError } from './errors';
import type { RateLimitOptions } from './store';

/*
 * Argument checks both adapters run before touching data, so a bad call fails the same way in
 * memory as against Redis (which would reject some of these with its own wording, and accept
 * others, such as fractional increments, that the memory adapter could not mirror exactly).
 */

export function checkKey(key: string, what = 'key'): void {
  if (typeof key !== 'string' || key === '') throw new StoreError('invalid', `${what} must be a non-empty string`);
}

export function checkValue(value: string): void {
  if (typeof value !== 'string') throw new StoreError('invalid', `value must be a string, got ${typeof value}`);
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new StoreError('invalid', `ttlMs must be a positive integer, got ${ttlMs}`);
}

export function checkInteger(n: number): void {
  if (!Number.isSafeInteger(n)) throw new StoreError('invalid', `increment must be a safe integer, got ${n}`);
}

export function checkFinite(n: number): void {
  if (!Number.isFinite(n)) throw new StoreError('invalid', `increment must be a finite number, got ${n}`);
}

/** The options of `Store.rateLimit`, with their defaults filled in. */
export function checkRateLimit(opts: RateLimitOptions): Required<RateLimitOptions> {
  const { limit, periodMs, cost = 1, force = false } = opts ?? ({} as RateLimitOptions);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new StoreError('invalid', `limit must be a positive integer, got ${limit}`);
  if (!Number.isSafeInteger(periodMs) || periodMs < 1) throw new StoreError('invalid', `periodMs must be a positive integer, got ${periodMs}`);
  if (!Number.isSafeInteger(cost) || cost < 0) throw new StoreError('invalid', `cost must be a non-negative integer, got ${cost}`);
  if (typeof force !== 'boolean') throw new StoreError('invalid', `force must be a boolean, got ${typeof force}`);
  return { limit, periodMs, cost, force };
}
