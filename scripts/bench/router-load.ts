/**
 * The router benchmark's client side: one timed Generate, a closed-loop load generator and the
 * seeded draw of routing keys.
 */
import { ConnectError } from '@connectrpc/connect';
import { GenerationService } from '@tokenmesh/proto';
import type { ServiceClient } from '@tokenmesh/server';

/** A Generate client, to a router or to a worker directly. */
export type Client = ServiceClient<typeof GenerationService>;

/** One request as the client saw it. */
export interface Sample {
  readonly totalMs: number;
  readonly ttftMs: number;
  /** Mean time between tokens after the first; NaN with fewer than 2 tokens. */
  readonly perTokenMs: number;
  readonly tokens: number;
  readonly worker: string;
  readonly error?: string;
}

let requestSeq = 0;
const prompt = (key: string) => [...Buffer.from(`${key}: In the beginning`)];

/** One Generate of `maxTokens` greedy tokens, timed from the call to the end of the stream. */
export async function call(c: Client, maxTokens: number, key: string): Promise<Sample> {
  const t0 = performance.now();
  let first = 0;
  let last = 0;
  let tokens = 0;
  let worker = '';
  try {
    const req = { requestId: `bench-${++requestSeq}`, model: 'tinygpt', promptTokenIds: prompt(key), routingKey: key, sampling: { maxTokens, temperature: 0 } };
    for await (const m of c.client.generate(req, { timeoutMs: 60_000 })) {
      if (m.workerId) worker = m.workerId;
      if (m.tokenIds.length === 0) continue;
      last = performance.now();
      if (tokens === 0) first = last;
      tokens += m.tokenIds.length;
    }
  } catch (err) {
    return { totalMs: performance.now() - t0, ttftMs: NaN, perTokenMs: NaN, tokens, worker, error: ConnectError.from(err).message };
  }
  const totalMs = performance.now() - t0;
  return { totalMs, ttftMs: tokens ? first - t0 : NaN, perTokenMs: tokens > 1 ? (last - first) / (tokens - 1) : NaN, tokens, worker };
}

/** `n` calls of `fn`, `concurrency` at a time (closed loop: each finished call starts the next). */
export async function closedLoop(n: number, concurrency: number, fn: (i: number) => Promise<Sample>): Promise<{ samples: Sample[]; seconds: number }> {
  const samples: Sample[] = new Array<Sample>(n);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) samples[i] = await fn(i);
    }),
  );
  return { samples, seconds: (performance.now() - t0) / 1000 };
}

/** mulberry32: the same session sequence for every strategy. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The samples that ended without an error. */
export const ok = (s: readonly Sample[]) => s.filter((x) => x.error === undefined);
