/**
 * The overload burst: `n` streamed `/v1/completions` requests sent at the same instant over
 * connections opened beforehand (a warm-up burst leaves them in the agent's pool), so what is
 * timed is the mesh's answer, not TCP handshakes.
 */
import type { Agent } from 'node:http';

import { postJson, sseError } from '@tokenmesh/testing';

import { quantile, round } from './stats';

/** One request of a burst as the client saw it. */
export interface BurstRequest {
  readonly status: number;
  /** Until the response ended (a 429: its whole answer), from the call. */
  readonly latencyMs: number;
  /** The same, from when the request was on the socket: without the load client's own queueing of the burst's writes. */
  readonly fromWriteMs: number;
  /** A 200: until its first text event; otherwise equal to latencyMs. */
  readonly ttftMs: number;
}

/** A request's outcome, with a description when it was neither 200 nor 429. */
export type Outcome = BurstRequest & { readonly error?: string };

/** A burst's figures: counts by status, 429 latency, 200 TTFT, the wall time of the whole burst. */
export interface BurstResult {
  readonly requests: number;
  readonly ok: number;
  readonly refused: number;
  readonly other: number;
  /** Up to three distinct non-200/429 outcomes. */
  readonly otherSamples: string[];
  readonly refusedP50Ms: number;
  readonly refusedP99Ms: number;
  readonly refusedMaxMs: number;
  /** 429 latency from the request's write (see BurstRequest.fromWriteMs). */
  readonly refusedFromWriteP50Ms: number;
  readonly refusedFromWriteP99Ms: number;
  readonly okTtftP50Ms: number;
  readonly okTtftP99Ms: number;
  readonly okLatencyP99Ms: number;
  readonly wallMs: number;
}

async function one(agent: Agent, url: string, prompt: string, maxTokens: number): Promise<Outcome> {
  const t0 = performance.now();
  let first = 0;
  const onChunk = (c: string) => {
    if (!first && /"text":"[^"]/.test(c)) first = performance.now();
  };
  try {
    const { status, text, sentAt } = await postJson(agent, `${url}/v1/completions`, { prompt, max_tokens: maxTokens, temperature: 0.8, stream: true }, onChunk);
    const now = performance.now();
    // A stream that failed after its headers is not a 200 the client can use.
    const failed = status === 200 && sseError(text) !== undefined;
    return {
      status: failed ? -1 : status,
      latencyMs: now - t0,
      fromWriteMs: now - sentAt,
      ttftMs: (first || now) - t0,
      ...(failed || (status !== 200 && status !== 429) ? { error: `${status}: ${text.slice(0, 120)}` } : {}),
    };
  } catch (err) {
    return { status: 0, latencyMs: performance.now() - t0, fromWriteMs: NaN, ttftMs: 0, error: (err as Error).message };
  }
}

/** Sends `n` requests at once and waits for every answer. */
export async function burst(agent: Agent, httpUrl: string, n: number, maxTokens: number, tag: string): Promise<Outcome[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => one(agent, httpUrl, `In the beginning ${tag} ${i}`, maxTokens)));
}

/** The figures of one or more bursts' requests; `wallMs`: each burst's wall time, averaged. */
export function summarize(all: readonly Outcome[], wallMs: number): BurstResult {
  const ok = all.filter((r) => r.status === 200);
  const refused = all.filter((r) => r.status === 429).map((r) => r.latencyMs);
  const refusedFromWrite = all.filter((r) => r.status === 429).map((r) => r.fromWriteMs);
  const other = all.filter((r) => r.status !== 200 && r.status !== 429);
  return {
    requests: all.length,
    ok: ok.length,
    refused: refused.length,
    other: other.length,
    otherSamples: [...new Set(other.map((r) => r.error ?? String(r.status)))].slice(0, 3),
    refusedP50Ms: round(quantile(refused, 0.5)),
    refusedP99Ms: round(quantile(refused, 0.99)),
    refusedMaxMs: round(Math.max(0, ...refused)),
    refusedFromWriteP50Ms: round(quantile(refusedFromWrite, 0.5)),
    refusedFromWriteP99Ms: round(quantile(refusedFromWrite, 0.99)),
    okTtftP50Ms: round(
      quantile(
        ok.map((r) => r.ttftMs),
        0.5,
      ),
    ),
    okTtftP99Ms: round(
      quantile(
        ok.map((r) => r.ttftMs),
        0.99,
      ),
    ),
    okLatencyP99Ms: round(
      quantile(
        ok.map((r) => r.latencyMs),
        0.99,
      ),
    ),
    wallMs: round(wallMs),
  };
}
