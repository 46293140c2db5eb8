/**
 * The counters a fault moves, read from the services' /metrics before and after it: retries,
 * refusals and RPC outcomes by code, as a difference, so earlier traffic does not count.
 */

/** `name{labels}` → value, for every sample line whose series matches `keep`. */
export type Samples = Record<string, number>;

/** What the benchmark looks at: retries, RESOURCE_EXHAUSTED outcomes, refusals and sheds, open circuits. */
export const FAULT_SERIES = /retr|resource_exhausted|reject|shed|circuit|worker_failures/;

export async function scrape(httpUrl: string, keep: RegExp = FAULT_SERIES): Promise<Samples> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const out: Samples = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    const series = line.slice(0, cut);
    // Buckets would repeat every duration series; _sum and _count give its mean.
    if (!keep.test(series) || series.includes('_bucket{')) continue;
    out[series] = Number(line.slice(cut + 1));
  }
  return out;
}

/** after − before, the series that moved only. */
export function moved(before: Samples, after: Samples): Samples {
  return Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, d]) => d !== 0),
  );
}
