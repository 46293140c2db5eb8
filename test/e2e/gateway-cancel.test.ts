import { type ClientRequest, request } from 'node:http';
import { resolve } from 'node:path';

import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { InferenceService } from '@tokenmesh/proto';
import { runningRequests, type ServiceProcess, startGateway, startUpstreams, waitFor } from '@tokenmesh/testing';

const MODEL = resolve(__dirname, '../../models/tinygpt');
/** Worker sleep per batch step: a 200-token stream lasts about 4 s. */
const STEP_DELAY_MS = 20;
const MAX_TOKENS = 200;
/**
 * The second gateway's GATEWAY_REQUEST_TIMEOUT_MS. Requests are greedy, so the gateway's response
 * cache sees them (its shared generation must stop when its only client leaves): each test uses
 * its own prompt, so none can be answered from the cache.
 */
const SHORT_TIMEOUT_MS = 1500;
const QUIET = { OTEL_TRACES_EXPORTER: 'none' };

/**
 * Cancellation and timeouts across real processes: tokenizer, a slowed inference worker, router
 * and two gateways (default and a 1.5 s request timeout). Each test watches the worker's own
 * `tokenmesh_num_requests_running` gauge: the slot a request held must be free again long before
 * its generation would have ended. (The time to free it is a performance figure: `npm run
 * bench:gateway` measures it; here it only has to happen well within the stream's remaining time.)
 */
describe('gateway: a client that goes away, or a timeout, frees the worker slot', () => {
  let procs: ServiceProcess[] = [];
  let gateway: ServiceProcess;
  let shortGateway: ServiceProcess;
  let worker: ServiceProcess;
  const sessions: Http2SessionManager[] = [];

  beforeAll(async () => {
    const up = await startUpstreams({ model: MODEL, env: QUIET, worker: { INFERENCE_STEP_DELAY_MS: String(STEP_DELAY_MS) } });
    worker = up.worker;
    procs.push(...up.all);
    [gateway, shortGateway] = await Promise.all([
      startGateway(up, MODEL, QUIET).then((g) => (procs.push(g), g)),
      startGateway(up, MODEL, { ...QUIET, GATEWAY_REQUEST_TIMEOUT_MS: String(SHORT_TIMEOUT_MS), GATEWAY_HEADERS_TIMEOUT_MS: '500' }).then(
        (g) => (procs.push(g), g),
      ),
    ]);
  }, 120_000);

  afterAll(async () => {
    sessions.forEach((s) => s.abort());
    const codes = await Promise.all(procs.map((p) => p.stop()));
    expect(procs.map((p, i) => (codes[i] === 0 ? 0 : p.output()))).toEqual(procs.map(() => 0));
  }, 60_000);

  const running = () => runningRequests(worker);

  /** Milliseconds from now until the worker runs nothing (polled every 5 ms, at most 10 s). */
  async function untilFree(): Promise<number> {
    const t0 = performance.now();
    await waitFor(async () => (await running()) === 0, { timeoutMs: 10_000, intervalMs: 5 });
    return performance.now() - t0;
  }

  /** POST /v1/completions streaming over a socket of its own; resolves with the request once `events` SSE events arrived. */
  function openSse(base: string, events: number, prompt = 'In the beginning'): Promise<{ req: ClientRequest; received: () => string; ended: Promise<void> }> {
    return new Promise((resolveOpen, reject) => {
      let text = '';
      let endedResolve!: () => void;
      const ended = new Promise<void>((r) => (endedResolve = r));
      const req = request(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        let opened = false;
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          if (!opened && text.split('\n\n').length > events) {
            opened = true;
            resolveOpen({ req, received: () => text, ended });
          }
        });
        // A stream that ends before `events` (e.g. timed out first) resolves too: the test reads what came.
        const finish = () => {
          endedResolve();
          if (!opened) resolveOpen({ req, received: () => text, ended });
        };
        res.on('end', finish);
        res.on('close', finish);
      });
      req.on('error', () => undefined);
      req.end(JSON.stringify({ prompt, max_tokens: MAX_TOKENS, temperature: 0, stream: true }));
    });
  }

  it('REST: destroying the socket of an SSE stream frees the slot long before the stream would have ended', async () => {
    expect(await running()).toBe(0);
    const sse = await openSse(gateway.httpUrl, 4);
    const streamStarted = performance.now();
    expect(await running()).toBe(1);
    sse.req.destroy();
    const freeMs = await untilFree();
    // 200 tokens at ≥ 20 ms per step: ≥ 3 s of the stream were left when the socket went.
    expect(sse.received()).not.toContain('[DONE]');
    expect(performance.now() - streamStarted).toBeLessThan(MAX_TOKENS * STEP_DELAY_MS - 3000 + 2000);
    expect(freeMs).toBeLessThan(2000);
  });

  it('gRPC: a StreamPredict cancelled by the client (AbortController) frees the slot', async () => {
    const sessionManager = new Http2SessionManager(gateway.url);
    sessions.push(sessionManager);
    const client = createClient(InferenceService, createGrpcTransport({ baseUrl: gateway.url, sessionManager }));
    const abort = new AbortController();
    let messages = 0;
    let runningWhenCancelled = -1;
    let freeMs = -1;
    const code = await (async () => {
      for await (const m of client.streamPredict(
        { prompt: 'And God called the light Day', sampling: { maxTokens: MAX_TOKENS, temperature: 0 } },
        { signal: abort.signal },
      )) {
        if (m.text && ++messages === 4) {
          runningWhenCancelled = await running();
          abort.abort();
          freeMs = await untilFree();
        }
      }
      return 'ok' as const;
    })().catch((err: unknown) => ConnectError.from(err).code);
    expect(code).toBe(Code.Canceled);
    expect(runningWhenCancelled).toBe(1);
    expect(freeMs).toBeGreaterThanOrEqual(0);
    expect(freeMs).toBeLessThan(2000);
  });

  it('GATEWAY_REQUEST_TIMEOUT_MS ends a started SSE stream with a `timeout` error event and frees the slot', async () => {
    const started = performance.now();
    const sse = await openSse(shortGateway.httpUrl, 2, 'And the evening and the morning');
    await sse.ended;
    const endedAfter = performance.now() - started;
    const events = sse.received().split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(JSON.parse(events.at(-2)!.slice('data: '.length))).toMatchObject({ error: { code: 'timeout', type: 'timeout_error' } });
    // Ended by the timeout, not by the generation (which needs ≥ 4 s).
    expect(endedAfter).toBeLessThan(MAX_TOKENS * STEP_DELAY_MS);
    expect(await untilFree()).toBeLessThan(2000);
  });

  it('GATEWAY_REQUEST_TIMEOUT_MS answers a non-streaming request with 504 `timeout`, and gRPC with DEADLINE_EXCEEDED', async () => {
    const res = await fetch(`${shortGateway.httpUrl}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'And the earth was', max_tokens: MAX_TOKENS, temperature: 0 }),
    });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ error: { code: 'timeout', type: 'timeout_error', param: null } });
    expect(await untilFree()).toBeLessThan(2000);

    const sessionManager = new Http2SessionManager(shortGateway.url);
    sessions.push(sessionManager);
    const client = createClient(InferenceService, createGrpcTransport({ baseUrl: shortGateway.url, sessionManager }));
    await expect(client.predict({ prompt: 'And God said', sampling: { maxTokens: MAX_TOKENS, temperature: 0 } })).rejects.toMatchObject({
      code: Code.DeadlineExceeded,
    });
    expect(await untilFree()).toBeLessThan(2000);
  });
});
