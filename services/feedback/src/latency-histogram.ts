/** Upper bounds (ms) of the completion-latency buckets kept per variant; the last is +Inf. */
export const LATENCY_BOUNDS_MS = [25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, Infinity];

/** Hash field of the bucket a latency falls in (non-cumulative counts). */
export function bucketField(latencyMs: number): string {
  const bound = LATENCY_BOUNDS_MS.find((b) => latencyMs <= b)!;
  return `latency_le_${bound === Infinity ? 'inf' : bound}`;
}

/**
 * The q-quantile from bucket counts, interpolated linearly inside its bucket (as Prometheus'
 * histogram_quantile); 0 without observations. In the +Inf bucket it answers the last bound.
 */
export function quantile(q: number, fields: Record<string, string>): number {
  const counts = LATENCY_BOUNDS_MS.map((b) => Number(fields[`latency_le_${b === Infinity ? 'inf' : b}`] ?? 0));
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    if (cumulative + counts[i]! >= rank && counts[i]! > 0) {
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      const upper = LATENCY_BOUNDS_MS[i]!;
      if (upper === Infinity) return lower;
      return lower + ((upper - lower) * (rank - cumulative)) / counts[i]!;
    }
    cumulative += counts[i]!;
  }
  return LATENCY_BOUNDS_MS.at(-2)!;
}
