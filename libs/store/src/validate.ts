import { StoreError } from './errors';

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
