/** The q-quantile (nearest rank) of `values`, 0 when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** The arithmetic mean of `values`; NaN when empty, so an empty set cannot pass for a zero. */
export const mean = (values: readonly number[]) => (values.length ? values.reduce((s, x) => s + x, 0) / values.length : NaN);

/** `v` rounded to `digits` decimals, as a number (reports print it as is). */
export const round = (v: number, digits = 1) => Number(v.toFixed(digits));
