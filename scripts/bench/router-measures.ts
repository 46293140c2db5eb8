/**
 * What the router benchmark reads besides the client's clock: the router's pick-duration
 * histogram, CPU time from /proc, and latency figures of a set of samples.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

import type { ServiceRuntime } from '@tokenmesh/server';

import { ok, type Sample } from './router-load';
import { mean, quantile, round } from './stats';

/** Count and sum of the router's pick-duration histogram, and its cumulative buckets (by upper bound, s). */
export interface PickHistogram {
  count: number;
  sum: number;
  buckets: Map<number, number>;
}

/** A snapshot of `tokenmesh_router_pick_duration_seconds` from the router's own registry. */
export async function pickHistogram(rt: ServiceRuntime): Promise<PickHistogram> {
  const m = (await rt.metrics.getMetricsAsJSON()).find((x) => x.name === 'tokenmesh_router_pick_duration_seconds');
  if (!m) throw new Error('the router has no tokenmesh_router_pick_duration_seconds histogram');
  const h: PickHistogram = { count: 0, sum: 0, buckets: new Map() };
  for (const v of m.values as { metricName?: string; value: number; labels: Record<string, string | number> }[]) {
    if (v.metricName?.endsWith('_count')) h.count = v.value;
    else if (v.metricName?.endsWith('_sum')) h.sum = v.value;
    else if (v.metricName?.endsWith('_bucket')) h.buckets.set(v.labels['le'] === '+Inf' ? Infinity : Number(v.labels['le']), v.value);
  }
  return h;
}

/** `b` plus `sign` × `a`, bucket by bucket: a difference of two snapshots, or a sum of differences. */
export function combine(b: PickHistogram, a: PickHistogram, sign: 1 | -1): PickHistogram {
  const buckets = new Map<number, number>();
  for (const k of new Set([...a.buckets.keys(), ...b.buckets.keys()])) buckets.set(k, (b.buckets.get(k) ?? 0) + sign * (a.buckets.get(k) ?? 0));
  return { count: b.count + sign * a.count, sum: b.sum + sign * a.sum, buckets };
}

/** The empty histogram, to sum differences onto. */
export const NO_PICKS: PickHistogram = { count: 0, sum: 0, buckets: new Map() };

/** The pick time as reported: calls, mean in µs, and the bucket bound the p99 falls under (null: above the largest). */
export interface PickSummary {
  calls: number;
  meanUs: number;
  p99AtMostUs: number | null;
}

/** The reported figures of a pick histogram (a bucket bound, not an exact p99: the histogram holds no more). */
export function pickSummary(h: PickHistogram): PickSummary {
  const bounds = [...h.buckets.keys()].sort((x, y) => x - y);
  const le = bounds.find((k) => (h.buckets.get(k) ?? 0) >= 0.99 * h.count) ?? Infinity;
  return { calls: h.count, meanUs: round((h.sum / Math.max(1, h.count)) * 1e6, 1), p99AtMostUs: le === Infinity ? null : round(le * 1e6) };
}

/** Clock ticks (USER_HZ) of CPU time: the whole machine busy, and `pids` (user + system). */
export interface CpuTicks {
  at: number;
  busy: number;
  ours: number;
}

/** Linux /proc; undefined elsewhere or when a process has gone. */
export function cpuTicks(pids: readonly number[]): CpuTicks | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const busy = f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!; // all but idle and iowait
    let ours = 0;
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
      ours += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    }
    return { at: performance.now(), busy, ours };
  } catch {
    return undefined;
  }
}

/** Share of the machine's CPU (0..1) used by processes other than this run's between `a` and `b`. */
export function othersShare(a: CpuTicks | undefined, b: CpuTicks | undefined): number | null {
  if (!a || !b) return null;
  const capacity = ((b.at - a.at) / 1000) * 100 * cpus().length; // USER_HZ is 100 on Linux
  return round(Math.max(0, (b.busy - a.busy - (b.ours - a.ours)) / capacity), 3);
}

/** Latency figures of a set of samples. */
export interface Latency {
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
}

/** Latency figures over the samples without an error; `requests` counts them all. */
export function latency(samples: readonly Sample[]): Latency {
  const good = ok(samples);
  const total = good.map((s) => s.totalMs);
  const ttft = good.map((s) => s.ttftMs);
  return {
    requests: samples.length,
    errors: samples.length - good.length,
    p50Ms: round(quantile(total, 0.5)),
    p99Ms: round(quantile(total, 0.99)),
    meanMs: round(mean(total)),
    ttftP50Ms: round(quantile(ttft, 0.5)),
    ttftP99Ms: round(quantile(ttft, 0.99)),
  };
}
