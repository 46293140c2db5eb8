import type { Registry } from 'prom-client';

/**
 * The sum of a metric's current samples whose labels include `labels` (all of them when none are
 * given): what a test or a benchmark asks of a counter or gauge, e.g. "retries on worker w4".
 * 0 when the metric has no such sample.
 */
export async function metricSum(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  let sum = 0;
  for (const v of metric?.values ?? []) {
    if (Object.entries(labels).every(([k, x]) => v.labels[k] === x)) sum += v.value;
  }
  return sum;
}
