/**
 * The mesh benchmark's load: `concurrency` clients, each sending its next request as soon as the
 * last one ended (closed loop), for `seconds`, over one protocol. Runs as its own process (see
 * runLoadProcess) so that its CPU is not the mesh's; prints one JSON LoadResult.
 */
import { Agent } from 'node:http';

import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { InferenceService } from '@tokenmesh/proto';
import { grpcJsChannel, grpcJsServerStream, postJson, sseError } from '@tokenmesh/testing';

import { quantile, round } from './stats';

export const PROTOCOLS = ['rest', 'sse', 'grpc', 'connect'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface LoadSpec {
  /** The gateway: HTTP/1.1 (REST, Connect) and HTTP/2 (gRPC) base URLs. */
  readonly httpUrl: string;
  readonly grpcUrl: string;
  readonly protocol: Protocol;
  readonly concurrency: number;
  readonly seconds: number;
  /** Unmeasured seconds first (connections, JIT, caches). */
  readonly warmupSeconds: number;
  readonly maxTokens: number;
  readonly temperature: number;
  /** A request's prompt is this plus its number, so no two are alike (no cache, no shared prefix). */
  readonly prompt: string;
  /** Stop starting requests once this many started (e.g. one request per client); default unlimited. */
  readonly requestsPerClient?: number;
  /** Also return every request's TTFT (to pool several windows' samples). */
  readonly keepTtfts?: boolean;
}

/** What the clients saw. Inter-chunk gaps are per chunk: a chunk of k tokens arrives at once. */
export interface LoadResult {
  readonly protocol: Protocol;
  readonly concurrency: number;
  readonly seconds: number;
  readonly requests: number;
  readonly errors: number;
  /** Up to three distinct error descriptions. */
  readonly errorSamples: string[];
  readonly completionTokens: number;
  readonly tokensPerS: number;
  /** Streams: first text; REST: the whole answer. */
  readonly ttftP50Ms: number;
  readonly ttftP99Ms: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly chunkGapP50Ms: number;
  readonly chunkGapP99Ms: number;
  /** Streams: completion tokens over text chunks. */
  readonly tokensPerChunk: number;
  /** The load client's own CPU, % of one core. */
  readonly clientCpuPct: number;
  /** Every request's TTFT, ms, when the spec asked (`keepTtfts`). */
  readonly ttftsMs?: number[];
}

interface One {
  readonly ttftMs: number;
  readonly latencyMs: number;
  readonly tokens: number;
  readonly gaps: number[];
  readonly chunks: number;
}

type Sender = (prompt: string) => Promise<One>;

function restSender(spec: LoadSpec, agent: Agent, stream: boolean): Sender {
  const url = `${spec.httpUrl}/v1/completions`;
  return async (prompt) => {
    const body = {
      prompt,
      max_tokens: spec.maxTokens,
      temperature: spec.temperature,
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    };
    const t0 = performance.now();
    let first = 0;
    let last = 0;
    const gaps: number[] = [];
    let chunks = 0;
    // Count the text events each read completed (a read may hold several, or part of one).
    const onChunk = (c: string) => {
      const now = performance.now();
      const texts = (c.match(/"text":"[^"]/g) ?? []).length;
      if (texts === 0) return;
      if (!first) first = now;
      else gaps.push(now - last);
      last = now;
      chunks += texts;
    };
    const { status, text } = await postJson(agent, url, body, stream ? onChunk : undefined);
    const now = performance.now();
    if (status !== 200) throw new Error(`HTTP ${status}: ${text.slice(0, 160)}`);
    const failed = sseError(text);
    if (failed) throw new Error(`stream error: ${failed}`);
    const m = [...text.matchAll(/"completion_tokens":(\d+)/g)].at(-1);
    return { ttftMs: (stream ? first || now : now) - t0, latencyMs: now - t0, tokens: m ? Number(m[1]) : 0, gaps, chunks };
  };
}

type PredictChunk = { text: string; usage?: { completionTokens: number } | undefined };

/** A StreamPredict client (grpc-js or Connect): times each text chunk, takes usage from the last. */
function streamSender(spec: LoadSpec, open: (prompt: string, sampling: { maxTokens: number; temperature: number }) => AsyncIterable<PredictChunk>): Sender {
  return async (prompt) => {
    const t0 = performance.now();
    let first = 0;
    let last = 0;
    const gaps: number[] = [];
    let chunks = 0;
    let tokens = 0;
    for await (const m of open(prompt, { maxTokens: spec.maxTokens, temperature: spec.temperature })) {
      const now = performance.now();
      if (m.text) {
        if (!first) first = now;
        else gaps.push(now - last);
        last = now;
        chunks++;
      }
      if (m.usage) tokens = m.usage.completionTokens;
    }
    const now = performance.now();
    return { ttftMs: (first || now) - t0, latencyMs: now - t0, tokens, gaps, chunks };
  };
}

function grpcSender(spec: LoadSpec, channel: grpc.Client): Sender {
  return streamSender(spec, (prompt, sampling) => grpcJsServerStream(channel, InferenceService.method.streamPredict, { prompt, sampling }));
}

function connectSender(spec: LoadSpec): Sender {
  // Connect's JSON over HTTP/1.1, as a browser or curl would speak it.
  const client = createClient(InferenceService, createConnectTransport({ baseUrl: spec.httpUrl, httpVersion: '1.1', useBinaryFormat: false }));
  return streamSender(spec, (prompt, sampling) => client.streamPredict({ prompt, sampling }));
}

/** Tells a parent that measures the mesh's CPU where the measured window starts and ends. */
function mark(line: string): void {
  if (process.env['MESH_LOAD_MARKS'] === '1') process.stdout.write(`${line}\n`);
}

/** Runs the load in this process. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency + 8 });
  const channel = spec.protocol === 'grpc' ? grpcJsChannel(spec.grpcUrl) : undefined;
  const send: Sender =
    spec.protocol === 'rest' || spec.protocol === 'sse'
      ? restSender(spec, agent, spec.protocol === 'sse')
      : spec.protocol === 'grpc'
        ? grpcSender(spec, channel!)
        : connectSender(spec);
  let seq = 0;
  const prompt = () => `${spec.prompt} ${seq++}`;
  try {
    const warmEnd = performance.now() + spec.warmupSeconds * 1000;
    await Promise.all(
      Array.from({ length: Math.min(spec.concurrency, 8) }, async () => {
        while (performance.now() < warmEnd) await send(prompt()).catch(() => undefined);
      }),
    );
    const done: One[] = [];
    const errors: string[] = [];
    const cpu0 = process.cpuUsage();
    mark('measuring');
    const t0 = performance.now();
    const end = t0 + spec.seconds * 1000;
    await Promise.all(
      Array.from({ length: spec.concurrency }, async () => {
        for (let n = 0; performance.now() < end && n < (spec.requestsPerClient ?? Infinity); n++) {
          try {
            done.push(await send(prompt()));
          } catch (err) {
            errors.push((err as Error).message);
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    mark('measured');
    const cpu = process.cpuUsage(cpu0);
    const tokens = done.reduce((n, r) => n + r.tokens, 0);
    const chunks = done.reduce((n, r) => n + r.chunks, 0);
    const gaps = done.flatMap((r) => r.gaps);
    const ms = (xs: number[], q: number) => round(quantile(xs, q), 2);
    return {
      protocol: spec.protocol,
      concurrency: spec.concurrency,
      seconds: round(seconds, 1),
      requests: done.length,
      errors: errors.length,
      errorSamples: [...new Set(errors)].slice(0, 3),
      completionTokens: tokens,
      tokensPerS: round(tokens / seconds),
      ttftP50Ms: ms(
        done.map((r) => r.ttftMs),
        0.5,
      ),
      ttftP99Ms: ms(
        done.map((r) => r.ttftMs),
        0.99,
      ),
      latencyP50Ms: ms(
        done.map((r) => r.latencyMs),
        0.5,
      ),
      latencyP99Ms: ms(
        done.map((r) => r.latencyMs),
        0.99,
      ),
      chunkGapP50Ms: ms(gaps, 0.5),
      chunkGapP99Ms: ms(gaps, 0.99),
      tokensPerChunk: chunks ? round(tokens / chunks, 2) : 0,
      clientCpuPct: round((cpu.user + cpu.system) / 1e4 / seconds),
      ...(spec.keepTtfts && { ttftsMs: done.map((r) => round(r.ttftMs, 2)) }),
    };
  } finally {
    agent.destroy();
    channel?.close();
  }
}

if (require.main === module) {
  runLoad(JSON.parse(process.argv[2]!) as LoadSpec).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
