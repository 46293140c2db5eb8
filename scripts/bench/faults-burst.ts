/**
 * The overload burst: `n` streamed `/v1/completions` requests sent at the same instant over
 * connections opened beforehand (a warm-up burst leaves them in the agent's pool), so what is
 * timed is the mesh's answer, not TCP handshakes.
 */
import { Agent, request } from 'node:http';

import { quantile, round } from './stats';

/** One request of a burst as the client saw it. */
export interface BurstRequest {
  readonly status: number;
  /** Until the response ended (a 429: its whole answer). */
  readonly latencyMs: number;
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
  readonly okTtftP50Ms: number;
  readonly okTtftP99Ms: number;
  readonly okLatencyP99Ms: number;
  readonly wallMs: number;
}

function one(agent: Agent, base: URL, prompt: string, maxTokens: number): Promise<Outcome> {
  const body = JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0.8, stream: true });
  return new Promise((resolve) => {
    const t0 = performance.now();
    let first = 0;
    let data = '';
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path: '/v1/completions',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          data += c;
          if (!first && /"text":"[^"]/.test(c)) first = performance.now();
        });
        res.on('end', () => {
          const now = performance.now();
          const status = res.statusCode ?? 0;
          // A stream that failed after its headers is not a 200 the client can use.
          const failed = status === 200 && data.includes('data: {"error"');
          resolve({
            status: failed ? -1 : status,
            latencyMs: now - t0,
            ttftMs: (first || now) - t0,
            ...(failed || (status !== 200 && status !== 429) ? { error: `${status}: ${data.slice(0, 120)}` } : {}),
          });
        });
      },
    );
    req.on('error', (err) => resolve({ status: 0, latencyMs: performance.now() - t0, ttftMs: 0, error: err.message }));
    req.end(body);
  });
}

/** Sends `n` requests at once and waits for every answer. */
export async function burst(agent: Agent, httpUrl: string, n: number, maxTokens: number, tag: string): Promise<Outcome[]> {
  const base = new URL(httpUrl);
  return Promise.all(Array.from({ length: n }, (_, i) => one(agent, base, `In the beginning ${tag} ${i}`, maxTokens)));
}

/** The figures of one or more bursts' requests; `wallMs`: each burst's wall time, averaged. */
export function summarize(all: readonly Outcome[], wallMs: number): BurstResult {
  const ok = all.filter((r) => r.status === 200);
  const refused = all.filter((r) => r.status === 429).map((r) => r.latencyMs);
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
