import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type Client, Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, Http2SessionManager } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { createMetrics, metricSum } from '@tokenmesh/metrics';
import { InferenceService, type StreamPredictResponse } from '@tokenmesh/proto';
import { rpcServerOutcomes, type ServerHandle, startServer } from '@tokenmesh/server';
import { tracer } from '@tokenmesh/telemetry';
import { grpcJsChannel, grpcJsServerStream, waitFor } from '@tokenmesh/testing';

import { inferenceService } from '../../../src/api/grpc/inference-api';
import { streamPredictFrames } from '../../../src/api/grpc/stream-predict-frames';
import { sha256Hex } from '../../../src/edge/auth/api-keys';
import { authInterceptor } from '../../../src/edge/auth/auth-interceptor';
import { startAuth } from '../../../src/edge/auth/start-auth';
import { inMemoryMesh } from '../../in-memory-mesh';

const KEY = 'tm-frames-0123456789abcdefghijklmnopqrstu';
const LIMITED = 'tm-limited-zyxwvutsrqponmlkjihgfedcba987';
const METHOD = `${InferenceService.typeName}/StreamPredict`;

describe("StreamPredict for gRPC callers past Connect (grpc-js against the gateway's frame handler, Connect's path beside it)", () => {
  let dir: string;
  let server: ServerHandle;
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let sessions: Http2SessionManager;
  let viaConnect: Client<typeof InferenceService>;
  let channel: grpc.Client;
  const metrics = createMetrics('gateway-frames-test');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'frames-keys-'));
    await writeFile(
      join(dir, 'keys.yaml'),
      `- name: frames\n  sha256: ${sha256Hex(KEY)}\n- name: limited\n  sha256: ${sha256Hex(LIMITED)}\n  models: [other-model]\n`,
    );
    const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => logger };
    const auth = await startAuth({ source: 'file', file: join(dir, 'keys.yaml') }, logger);
    mesh = await inMemoryMesh();
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      routes: (r) => r.service(InferenceService, inferenceService(mesh.upstreams)),
      interceptors: [authInterceptor(auth)],
      preHandler: streamPredictFrames(mesh.upstreams, auth, { tracer: tracer('gateway'), outcomes: rpcServerOutcomes(metrics), maxBytes: 4096 }),
    });
    sessions = new Http2SessionManager(server.url);
    // The Connect protocol over HTTP/2 is left to Connect: the reference the frames are compared with.
    viaConnect = createClient(InferenceService, createConnectTransport({ baseUrl: server.url, httpVersion: '2', sessionManager: sessions }));
    channel = grpcJsChannel(server.url);
  });

  afterAll(async () => {
    channel?.close();
    sessions?.abort();
    await server?.close();
    await mesh?.close();
    await rm(dir, { recursive: true });
  });

  const metadata = (entries: Record<string, string>) => {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(entries)) m.set(k, v);
    return m;
  };

  /** A grpc-js StreamPredict: its messages, response headers and error. */
  async function viaGrpcJs(input: Parameters<typeof viaConnect.streamPredict>[0], headers: Record<string, string> = { 'x-api-key': KEY }) {
    const call = grpcJsServerStream(channel, InferenceService.method.streamPredict, input, metadata(headers));
    const header = new Promise<grpc.Metadata>((resolve) => (call as unknown as grpc.ClientReadableStream<unknown>).once('metadata', resolve));
    const messages: StreamPredictResponse[] = [];
    try {
      for await (const m of call) messages.push(m);
    } catch (err) {
      return { messages, error: err as grpc.ServiceError };
    }
    return { messages, header: await header };
  }

  it('streams what the Connect path streams (greedy: the same text, finish reason and usage), with the response headers', async () => {
    const req = { prompt: 'Once upon a time', sampling: { maxTokens: 12, temperature: 0 } };
    const framed = await viaGrpcJs({ ...req, requestId: 'frames-1' });
    expect(framed.error).toBeUndefined();
    const reference: StreamPredictResponse[] = [];
    for await (const m of viaConnect.streamPredict({ ...req, requestId: 'connect-1' }, { headers: { 'x-api-key': KEY } })) reference.push(m);
    const text = (ms: StreamPredictResponse[]) => ms.map((m) => m.text).join('');
    expect(text(framed.messages)).toBe(text(reference));
    expect(text(framed.messages).length).toBeGreaterThan(0);
    const last = framed.messages.at(-1)!;
    expect(last).toMatchObject({ requestId: 'frames-1', finishReason: reference.at(-1)!.finishReason, model: reference.at(-1)!.model });
    expect(last.usage).toEqual(reference.at(-1)!.usage);
    expect(framed.messages.every((m) => m.requestId === 'frames-1')).toBe(true);
    expect(framed.header!.get('x-tokenmesh-cache')).toEqual(['miss']);
  });

  it('checks the API key as the auth interceptor does: UNAUTHENTICATED with www-authenticate, PERMISSION_DENIED for a model, no worker call', async () => {
    const calls = mesh.workerCalls();
    const missing = await viaGrpcJs({ prompt: 'Hello' }, {});
    expect(missing.error!.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(missing.error!.details).toMatch(/^missing API key: send it as "Authorization: Bearer <key>"/);
    expect(missing.error!.metadata.get('www-authenticate')).toEqual(['Bearer']);
    const wrong = await viaGrpcJs({ prompt: 'Hello' }, { authorization: 'Bearer tm-nobody-0000000000000000000000000000000' });
    expect([wrong.error!.code, wrong.error!.details]).toEqual([grpc.status.UNAUTHENTICATED, 'invalid API key']);
    const forbidden = await viaGrpcJs({ prompt: 'Hello', model: 'tinyllama' }, { 'x-api-key': LIMITED });
    expect(forbidden.error!.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(forbidden.error!.details).toContain('API key "limited" may not use "tinyllama"');
    expect(mesh.workerCalls()).toBe(calls);
    const ok = await viaGrpcJs({ prompt: 'Hello', sampling: { maxTokens: 2, temperature: 0 } }, { authorization: `Bearer ${KEY}` });
    expect(ok.messages.at(-1)!.usage?.completionTokens).toBe(2);
  });

  it('bad input gets the Connect path error (INVALID_ARGUMENT naming the field); the call counts in tokenmesh_rpc_server_*', async () => {
    let reference: ConnectError | undefined;
    try {
      for await (const _ of viaConnect.streamPredict({ prompt: '' }, { headers: { 'x-api-key': KEY } })) void _;
    } catch (err) {
      reference = ConnectError.from(err);
    }
    const before = await metricSum(metrics, 'tokenmesh_rpc_server_requests_total', { method: METHOD, code: 'invalid_argument' });
    const bad = await viaGrpcJs({ prompt: '' });
    expect(bad.error!.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(reference!.code).toBe(Code.InvalidArgument);
    expect(bad.error!.details).toBe(reference!.rawMessage);
    expect(bad.error!.details).toMatch(/^prompt: /);
    expect(await metricSum(metrics, 'tokenmesh_rpc_server_requests_total', { method: METHOD, code: 'invalid_argument' })).toBe(before + 1);
  });

  it("a caller that cancels ends the call at once: the handler's signal aborts and the call counts as cancelled", async () => {
    const before = await metricSum(metrics, 'tokenmesh_rpc_server_requests_total', { method: METHOD, code: 'canceled' });
    const calls = mesh.workerCalls();
    const call = grpcJsServerStream(
      channel,
      InferenceService.method.streamPredict,
      { prompt: 'Once', sampling: { maxTokens: 480, temperature: 0 } },
      metadata({ 'x-api-key': KEY }),
    );
    let error: grpc.ServiceError | undefined;
    try {
      for await (const _ of call) {
        void _;
        call.cancel();
      }
    } catch (err) {
      error = err as grpc.ServiceError;
    }
    expect(error!.code).toBe(grpc.status.CANCELLED);
    expect(mesh.workerCalls()).toBe(calls + 1);
    await waitFor(async () => (await metricSum(metrics, 'tokenmesh_rpc_server_requests_total', { method: METHOD, code: 'canceled' })) === before + 1, {
      timeoutMs: 5000,
    });
  });
});
