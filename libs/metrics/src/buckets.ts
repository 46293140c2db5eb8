/** Where `bucketsUpTo` starts and how fast it grows. */
export interface BucketOptions {
  /** The first bucket's upper bound; default 1 (one token, one item). */
  start?: number;
  /** Growth factor between buckets; default 2. */
  factor?: number;
}

/**
 * Histogram buckets growing geometrically from `start` and ending exactly at `limit`, e.g. the
 * configured `max_tokens` or request timeout. Deriving buckets from the limit keeps them in step
 * with the config: observations can never exceed the last bucket, and none is wasted beyond it.
 *
 * `bucketsUpTo(2048)` → 1, 2, 4, …, 1024, 2048; `bucketsUpTo(30, { start: 0.01 })` → 0.01 … 30.
 */
export function bucketsUpTo(limit: number, { start = 1, factor = 2 }: BucketOptions = {}): number[] {
  if (!(Number.isFinite(limit) && limit > 0)) throw new RangeError(`bucket limit must be > 0, got ${limit}`);
  if (!(start > 0 && start <= limit)) throw new RangeError(`bucket start must be in (0, ${limit}], got ${start}`);
  if (!(factor > 1)) throw new RangeError(`bucket factor must be > 1, got ${factor}`);
  const buckets: number[] = [];
  // Rounding to 6 significant digits drops float noise such as 0.30000000000000004 from labels.
  for (let b = start; b < limit * (1 - 1e-9); b *= factor) buckets.push(Number(b.toPrecision(6)));
  buckets.push(limit);
  return buckets;
}
