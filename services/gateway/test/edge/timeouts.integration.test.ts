import { request } from 'node:http';
import { connect } from 'node:net';

import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { InferenceService } from '@tokenmesh/proto';
import { type ServerHandle, startServer } from '@tokenmesh/server';

import { inferenceService } from '../../src/api/grpc/inference-api';
import { restApi } from '../../src/api/rest/rest-api';
import { loadConfig } from '../../src/config';
import { startDeadline } from '../../src/edge/deadline';
import type { Upstreams } from '../../src/pipeline/generate-text';
import { fakeFeedback, listen } from '../fakes';
import { inMemoryMesh } from '../in-memory-mesh';
import { slowRouter } from './timeouts-slow-router';

// Long enough for a first token on a loaded 2-core machine, short against 64 tokens × DELAY_MS.
const TIMEOUT_MS = 1000;
const DELAY_MS = 100;

describe('gateway limits and timeouts', () => {
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let slow: ReturnType<typeof slowRouter>;
  let up: Upstreams;
  let http: Awaited<ReturnType<typeof listen>>;
  let base: string;

  beforeAll(async () => {
    mesh = await inMemoryMesh();
    slow = slowRouter(mesh.upstreams.router, DELAY_MS);
    up = { ...mesh.upstreams, router: slow.router };
    http = await listen(restApi({ upstreams: up, feedback: fakeFeedback(), bodyLimitBytes: 4096, requestTimeoutMs: TIMEOUT_MS }));
    base = http.base;
  });
  afterAll(async () => {
    await http.close();
    await mesh.close();
  });

  const post = (path: string, body: unknown) =>
    fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  describe('GATEWAY_REQUEST_TIMEOUT_MS', () => {
    it('config: default 120 s, 0 disables, and the headers timeout may not exceed it', () => {
      expect(loadConfig({})).toMatchObject({ requestTimeoutMs: 120_000, headersTimeoutMs: 10_000 });
      expect(loadConfig({ GATEWAY_REQUEST_TIMEOUT_MS: '0' }).requestTimeoutMs).toBe(0);
      expect(() => loadConfig({ GATEWAY_REQUEST_TIMEOUT_MS: '5000', GATEWAY_HEADERS_TIMEOUT_MS: '6000' })).toThrow(
        'GATEWAY_HEADERS_TIMEOUT_MS (6000) must be <= GATEWAY_REQUEST_TIMEOUT_MS (5000)',
      );
      expect(() => loadConfig({ GATEWAY_REQUEST_TIMEOUT_MS: 'soon' })).toThrow('GATEWAY_REQUEST_TIMEOUT_MS');
    });

    it('a deadline passes on the caller’s cancellation, and times out with DEADLINE_EXCEEDED otherwise', async () => {
      const caller = new AbortController();
      const d = startDeadline(60_000, caller.signal);
      caller.abort(new ConnectError('gone', Code.Canceled));
      expect([d.signal.aborted, d.timedOut, ConnectError.from(d.signal.reason).code]).toEqual([true, false, Code.Canceled]);
      // Stopping the timer does not unlink the caller: a client leaving later still cancels.
      const later = new AbortController();
      const stopped = startDeadline(60_000, later.signal);
      stopped.dispose();
      later.abort();
      expect(stopped.signal.aborted).toBe(true);

      const fired: ConnectError[] = [];
      const t = startDeadline(20, undefined, (e) => fired.push(e));
      await new Promise((r) => t.signal.addEventListener('abort', r));
      expect([t.timedOut, ConnectError.from(t.signal.reason).code, fired.length]).toEqual([true, Code.DeadlineExceeded, 1]);
    });

    it('REST: 504 with code `timeout` in OpenAI’s shape, and the upstream call is cancelled', async () => {
      const before = slow.calls.length;
      const res = await post('/generate', { prompt: 'Hello', max_tokens: 64, temperature: 0 });
      expect(res.status).toBe(504);
      expect(await res.json()).toEqual({
        error: { message: expect.stringContaining(`${TIMEOUT_MS} ms`), type: 'timeout_error', param: null, code: 'timeout' },
      });
      const call = slow.calls[before]!;
      expect(call.signal.aborted).toBe(true);
    });

    it('REST SSE already streaming: ends with an error event and [DONE]; the upstream call is cancelled', async () => {
      const before = slow.calls.length;
      const res = await post('/v1/completions', { prompt: 'Hello', max_tokens: 64, temperature: 0, stream: true });
      expect(res.status).toBe(200);
      const events = (await res.text()).split('\n\n').filter(Boolean);
      expect(events.at(-1)).toBe('data: [DONE]');
      const last = JSON.parse(events.at(-2)!.replace(/^data: /, '')) as { error?: { code: string; type: string } };
      expect(last.error).toMatchObject({ code: 'timeout', type: 'timeout_error' });
      // Some text arrived before the timeout.
      expect(events.length).toBeGreaterThan(2);
      expect(slow.calls[before]!.signal.aborted).toBe(true);
    });

    it('gRPC/Connect: DEADLINE_EXCEEDED from the gateway’s timeout, and from the caller’s own shorter deadline', async () => {
      const client = (timeoutMs: number) =>
        createClient(
          InferenceService,
          createRouterTransport((r) => r.service(InferenceService, inferenceService(up, { requestTimeoutMs: timeoutMs }))),
        );
      const drain = async (c: ReturnType<typeof client>, callTimeoutMs?: number) => {
        try {
          for await (const _ of c.streamPredict(
            { prompt: 'Hello', sampling: { maxTokens: 64, temperature: 0 } },
            callTimeoutMs ? { timeoutMs: callTimeoutMs } : {},
          ))
            void _;
          return 'ok' as const;
        } catch (err) {
          return ConnectError.from(err).code;
        }
      };
      let before = slow.calls.length;
      expect(await drain(client(TIMEOUT_MS))).toBe(Code.DeadlineExceeded);
      expect(slow.calls[before]!.signal.aborted).toBe(true);
      // A 60 s gateway timeout, a 300 ms caller deadline: the caller's wins.
      before = slow.calls.length;
      expect(await drain(client(60_000), TIMEOUT_MS)).toBe(Code.DeadlineExceeded);
      expect(slow.calls[before]!.signal.aborted).toBe(true);
      await expect(client(TIMEOUT_MS).predict({ prompt: 'Hello', sampling: { maxTokens: 64, temperature: 0 } })).rejects.toMatchObject({
        code: Code.DeadlineExceeded,
      });
    });

    it('a request that finishes in time is not affected', async () => {
      const res = await post('/generate', { prompt: 'Hello', max_tokens: 2, temperature: 0 });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(2);
    });
  });

  describe('the model’s context', () => {
    it('a prompt longer than the context is refused by name before any worker call', async () => {
      const before = mesh.workerCalls();
      const res = await post('/v1/completions', { prompt: ' x'.repeat(1000), max_tokens: 1 });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { param: string; message: string } };
      expect(error.param).toBe('prompt');
      expect(error.message).toMatch(/^prompt: .*512/);
      expect(mesh.workerCalls()).toBe(before);
    });
  });

  describe('GATEWAY_BODY_LIMIT_BYTES', () => {
    it('413 request_too_large, whether the length is declared or the body is chunked', async () => {
      const before = mesh.workerCalls();
      const declared = await post('/generate', { prompt: 'x'.repeat(5000) });
      expect(declared.status).toBe(413);
      expect(await declared.json()).toEqual({
        error: { message: 'request body is larger than 4096 bytes', type: 'invalid_request_error', param: null, code: 'request_too_large' },
      });

      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          `${base}/v1/completions`,
          { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        req.write('{"prompt": "');
        for (let i = 0; i < 5; i++) req.write('y'.repeat(1000));
        req.end('"}');
      });
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body)).toMatchObject({ error: { code: 'request_too_large' } });
      expect(mesh.workerCalls()).toBe(before);
    });
  });
});

describe('GATEWAY_HEADERS_TIMEOUT_MS: the HTTP/1.1 listener', () => {
  let server: ServerHandle;

  beforeAll(async () => {
    server = await startServer({
      routes: () => undefined,
      port: 0,
      host: '127.0.0.1',
      http1Port: 0,
      http1Timeouts: { headersTimeoutMs: 200, requestTimeoutMs: 1000 },
    });
  });
  afterAll(() => server.close(100));

  it('answers 408 and closes a connection whose headers never finish', async () => {
    const socket = connect(server.http1Port!, '127.0.0.1');
    let received = '';
    socket.on('data', (c: Buffer) => (received += c.toString()));
    socket.write('POST /generate HTTP/1.1\r\nHost: gateway\r\nX-Slow: ');
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    expect(received.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('still serves a request that arrives in time', async () => {
    expect((await fetch(`${server.http1Url}/health`)).status).toBe(200);
  });
});
