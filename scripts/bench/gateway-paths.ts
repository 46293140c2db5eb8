/**
 * The gateway benchmark's clients: one timed request per path (the worker's Generate called
 * directly; the router's Generate, the same request one hop further; the gateway over REST SSE, gRPC and Connect over HTTP/1.1), cache-hit requests, and
 * the time from a client leaving to the worker's slot being free.
 */
import { Agent, request } from 'node:http';

import { type Client, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { GenerationService, InferenceService } from '@tokenmesh/proto';
import { runningRequests as runningOn } from '@tokenmesh/testing';

import type { Mesh } from './gateway-mesh';

/** BENCH_GATEWAY_QUICK=1 runs a tenth of the requests: a check of the benchmark itself, not a result. */
const SCALE = process.env['BENCH_GATEWAY_QUICK'] === '1' ? 10 : 1;

/** The benchmark's sizes: requests per path, tokens per request, the cancellation runs' slowed worker. */
export const SETUP = {
  requests: 200 / SCALE,
  tokens: 16,
  warmup: 20 / SCALE,
  cacheRequests: 200 / SCALE,
  cancels: 20 / SCALE,
  cancelTokens: 400,
  cancelStepDelayMs: 5,
} as const;

export const PATHS = ['direct', 'router', 'rest', 'grpc', 'connect'] as const;
export type PathName = (typeof PATHS)[number];

/** One request as its client saw it. */
export interface Timing {
  readonly ttftMs: number;
  readonly totalMs: number;
  /** x-tokenmesh-cache as the gateway answered it, when asked. */
  readonly cache?: string | undefined;
}

const PROMPT = 'In the beginning';

/** The clients of one mesh, each on a connection of its own that stays open (as a real client's would). */
export class Clients {
  private readonly sessions: Http2SessionManager[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  private readonly direct: Client<typeof GenerationService>;
  private readonly router: Client<typeof GenerationService>;
  private readonly grpc: Client<typeof InferenceService>;
  private readonly connect: Client<typeof InferenceService>;
  private seq = 0;

  constructor(private readonly mesh: Mesh) {
    const h2 = (url: string) => {
      const s = new Http2SessionManager(url);
      this.sessions.push(s);
      return s;
    };
    this.direct = createClient(GenerationService, createGrpcTransport({ baseUrl: mesh.worker.url, sessionManager: h2(mesh.worker.url) }));
    this.router = createClient(GenerationService, createGrpcTransport({ baseUrl: mesh.router.url, sessionManager: h2(mesh.router.url) }));
    this.grpc = createClient(InferenceService, createGrpcTransport({ baseUrl: mesh.gateway.url, sessionManager: h2(mesh.gateway.url) }));
    this.connect = createClient(InferenceService, createConnectTransport({ baseUrl: mesh.gateway.httpUrl, httpVersion: '1.1', useBinaryFormat: false }));
  }

  close(): void {
    this.sessions.forEach((s) => s.abort());
    this.agent.destroy();
  }

  /**
   * One streamed request of `maxTokens` tokens on `path`, sampled (temperature 1, no seed) so the
   * gateway's cache never sees it: TTFT is the time to the first token (or text) received.
   */
  async stream(path: PathName, maxTokens: number): Promise<Timing> {
    const t0 = performance.now();
    let first = NaN;
    const mark = () => {
      if (Number.isNaN(first)) first = performance.now();
    };
    const sampling = { maxTokens, temperature: 1 };
    if (path === 'direct' || path === 'router') {
      const req = { requestId: `bench-${++this.seq}`, model: 'tinygpt', promptTokenIds: [...Buffer.from(PROMPT)], sampling };
      for await (const m of this[path].generate(req)) if (m.tokenIds.length) mark();
    } else if (path === 'grpc' || path === 'connect') {
      for await (const m of this[path].streamPredict({ prompt: PROMPT, sampling })) if (m.text) mark();
    } else {
      await this.sse({ prompt: PROMPT, max_tokens: maxTokens, temperature: 1, stream: true }, mark);
    }
    return { ttftMs: first - t0, totalMs: performance.now() - t0 };
  }

  /** A deterministic request (greedy, the same prompt every time) over REST /generate or gRPC Predict, with the cache outcome. */
  async deterministic(path: 'rest' | 'grpc', maxTokens: number): Promise<Timing> {
    const t0 = performance.now();
    let cache: string | undefined;
    if (path === 'grpc') {
      await this.grpc.predict(
        { prompt: PROMPT, sampling: { maxTokens, temperature: 0 } },
        { onHeader: (h) => (cache = h.get('x-tokenmesh-cache') ?? undefined) },
      );
    } else {
      cache = await this.post('/generate', { prompt: PROMPT, max_tokens: maxTokens, temperature: 0 });
    }
    const totalMs = performance.now() - t0;
    return { ttftMs: totalMs, totalMs, cache };
  }

  /**
   * The time from a client leaving a running stream of `maxTokens` tokens (after 4 chunks) to the
   * worker's `tokenmesh_num_requests_running` reading 0, polled as fast as /metrics answers.
   * Undefined when the request was not running at the moment the client left.
   */
  async cancelToFree(path: 'rest' | 'grpc', maxTokens: number): Promise<number | undefined> {
    const abort = new AbortController();
    let chunks = 0;
    let left: Promise<number | undefined> | undefined;
    const leave = () => {
      left ??= (async () => {
        if ((await runningOn(this.mesh.worker)) !== 1) return undefined;
        const t0 = performance.now();
        abort.abort();
        while ((await runningOn(this.mesh.worker)) !== 0) if (performance.now() - t0 > 10_000) throw new Error('slot not freed within 10 s');
        return performance.now() - t0;
      })();
    };
    const onChunk = () => {
      if (++chunks === 4) leave();
    };
    try {
      if (path === 'grpc') {
        for await (const m of this.grpc.streamPredict({ prompt: PROMPT, sampling: { maxTokens, temperature: 1 } }, { signal: abort.signal }))
          if (m.text) onChunk();
      } else {
        await this.sse({ prompt: PROMPT, max_tokens: maxTokens, temperature: 1, stream: true }, onChunk, abort.signal);
      }
    } catch {
      // The cancellation itself.
    }
    return left;
  }

  /** POST an SSE request on its own socket, calling `onEvent` per event; `signal` destroys the socket. */
  private sse(body: unknown, onEvent: () => void, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.mesh.gateway.httpUrl}/v1/completions`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, agent: signal ? false : this.agent },
        (res) => {
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
          let buffered = '';
          res.on('data', (c: Buffer) => {
            buffered += c.toString('utf8');
            const events = buffered.split('\n\n');
            buffered = events.pop()!;
            for (const e of events) if (e.startsWith('data: {') && e.includes('"text":"') && !e.includes('"text":""')) onEvent();
          });
          res.on('end', resolve);
          res.on('error', reject);
        },
      );
      signal?.addEventListener('abort', () => {
        req.destroy();
        resolve();
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  /** POST JSON and read the whole answer; resolves with x-tokenmesh-cache. */
  private post(path: string, body: unknown): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.mesh.gateway.httpUrl}${path}`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, agent: this.agent },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve(res.headers['x-tokenmesh-cache'] as string | undefined) : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }
}
