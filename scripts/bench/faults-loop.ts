/**
 * A closed loop of /generate requests for the Redis outage: `concurrency` clients, each sending
 * the next as soon as the last ended, for `seconds`. Greedy and each prompt new, so every request
 * asks the response cache (a miss), takes its lock and stores the answer: the store calls a
 * request pays when the cache is on.
 */
import { quantile, round } from './stats';

/** What the clients saw during one phase. */
export interface LoopResult {
  readonly requests: number;
  readonly failed: number;
  /** Up to three distinct failures. */
  readonly failures: string[];
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly requestsPerS: number;
}

export async function closedLoop(httpUrl: string, concurrency: number, seconds: number, maxTokens: number, tag: string): Promise<LoopResult> {
  const latencies: number[] = [];
  const failures: string[] = [];
  let failed = 0;
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const client = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${httpUrl}/generate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: `In the beginning ${tag} ${n++}`, max_tokens: maxTokens, temperature: 0 }),
        });
        const body = await res.text();
        if (res.status !== 200) {
          failed++;
          failures.push(`${res.status}: ${body.slice(0, 120)}`);
        } else latencies.push(performance.now() - t0);
      } catch (err) {
        failed++;
        failures.push((err as Error).message);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const wallS = (performance.now() - t0) / 1000;
  return {
    requests: latencies.length + failed,
    failed,
    failures: [...new Set(failures)].slice(0, 3),
    latencyP50Ms: round(quantile(latencies, 0.5)),
    latencyP99Ms: round(quantile(latencies, 0.99)),
    requestsPerS: round(latencies.length / wallS),
  };
}
