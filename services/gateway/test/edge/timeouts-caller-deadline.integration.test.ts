import { connect } from 'node:http2';
import { resolve } from 'node:path';

import { create, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { InferenceService, PredictRequestSchema, StreamPredictRequestSchema } from '@tokenmesh/proto';
import { grpcJsChannel, type MeshProcesses, runningRequests, startMeshProcesses, waitFor } from '@tokenmesh/testing';

const TINYLLAMA = resolve(__dirname, '../../../../models/tinyllama');

// 200 tokens × 100 ms per step: a generation takes 20 s, far past every deadline below.
const SLOW = { INFERENCE_STEP_DELAY_MS: '100' };
const CALLER_DEADLINE_MS = 500;
const GATEWAY_TIMEOUT_MS = 2000;
const REQUEST = { prompt: 'Hello', sampling: { maxTokens: 200, temperature: 0 } } satisfies MessageInitShape<typeof PredictRequestSchema>;
const SERVICE = InferenceService.typeName;

/** One gRPC call on a bare HTTP/2 stream: the status and message the gateway itself sends (no client-side deadline). */
function rawGrpc(url: string, method: string, message: Uint8Array, headers: Record<string, string>): Promise<{ status?: string; message?: string }> {
  return new Promise((done, fail) => {
    const session = connect(url);
    session.on('error', fail);
    const req = session.request({ ':method': 'POST', ':path': `/${SERVICE}/${method}`, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const out: { status?: string; message?: string } = {};
    // A trailers-only answer carries its status in the headers.
    const read = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) Object.assign(out, { status: h['grpc-status'], message: h['grpc-message'] });
    };
    req.on('response', read);
    req.on('trailers', read);
    req.on('data', () => undefined);
    req.on('close', () => {
      session.close();
      done(out);
    });
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    Buffer.from(message).copy(frame, 5);
    req.end(frame);
  });
}

/** grpc-js's own unary call with call options (a deadline): resolves with the status code. */
function grpcJsPredict(channel: grpc.Client, options: grpc.CallOptions): Promise<number> {
  return new Promise((done) =>
    channel.makeUnaryRequest(
      `/${SERVICE}/Predict`,
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => b,
      toBinary(PredictRequestSchema, create(PredictRequestSchema, REQUEST)),
      new grpc.Metadata(),
      options,
      (err) => done(err ? err.code : grpc.status.OK),
    ),
  );
}

describe('caller deadlines and the gateway timeout, one process per service', () => {
  let mesh: MeshProcesses;
  let channel: grpc.Client;

  beforeAll(async () => {
    mesh = await startMeshProcesses({
      model: TINYLLAMA,
      feedback: false,
      worker: SLOW,
      gateway: { GATEWAY_REQUEST_TIMEOUT_MS: String(GATEWAY_TIMEOUT_MS), GATEWAY_HEADERS_TIMEOUT_MS: '1000' },
    });
    channel = grpcJsChannel(mesh.gateway.url);
  }, 120_000);
  afterAll(async () => {
    channel?.close();
    await mesh?.stop();
  });

  /** The gateway's `tokenmesh_rpc_server_requests_total` for one method and code. */
  const rpcCount = async (method: string, code: string): Promise<number> => {
    const text = await (await fetch(`${mesh.gateway.httpUrl}/metrics`)).text();
    const line = new RegExp(`^tokenmesh_rpc_server_requests_total\\{method="${SERVICE}/${method}",code="${code}"[^}]*\\} (\\d+)$`, 'm').exec(text);
    return line ? Number(line[1]) : 0;
  };
  const counts = async (method: string) => ({ deadline: await rpcCount(method, 'deadline_exceeded'), canceled: await rpcCount(method, 'canceled') });

  it('Connect `connect-timeout-ms`: HTTP 504 deadline_exceeded, counted as deadline_exceeded', async () => {
    const before = await counts('Predict');
    const res = await fetch(`${mesh.gateway.httpUrl}/${SERVICE}/Predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'connect-timeout-ms': String(CALLER_DEADLINE_MS) },
      body: JSON.stringify(REQUEST),
    });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ code: 'deadline_exceeded' });
    await waitFor(async () => (await rpcCount('Predict', 'deadline_exceeded')) === before.deadline + 1);
    expect(await rpcCount('Predict', 'canceled')).toBe(before.canceled);
  });

  it('gRPC `grpc-timeout`: the gateway answers status 4 on unary and server-streaming calls, counted as deadline_exceeded', async () => {
    for (const [method, schema] of [
      ['Predict', PredictRequestSchema],
      ['StreamPredict', StreamPredictRequestSchema],
    ] as const) {
      const before = await counts(method);
      const answer = await rawGrpc(mesh.gateway.url, method, toBinary(schema, create(schema, REQUEST)), { 'grpc-timeout': `${CALLER_DEADLINE_MS}m` });
      expect({ method, status: answer.status }).toEqual({ method, status: String(grpc.status.DEADLINE_EXCEEDED) });
      await waitFor(async () => (await rpcCount(method, 'deadline_exceeded')) === before.deadline + 1);
      expect(await rpcCount(method, 'canceled')).toBe(before.canceled);
    }
  });

  it('a grpc-js client with a deadline: DEADLINE_EXCEEDED on both sides', async () => {
    const before = await counts('Predict');
    expect(await grpcJsPredict(channel, { deadline: Date.now() + CALLER_DEADLINE_MS })).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(async () => (await rpcCount('Predict', 'deadline_exceeded')) === before.deadline + 1);
    expect(await rpcCount('Predict', 'canceled')).toBe(before.canceled);
  });

  it('GATEWAY_REQUEST_TIMEOUT_MS: gRPC DEADLINE_EXCEEDED naming the timeout, REST 504 `timeout`', async () => {
    const before = await counts('StreamPredict');
    const answer = await rawGrpc(mesh.gateway.url, 'StreamPredict', toBinary(StreamPredictRequestSchema, create(StreamPredictRequestSchema, REQUEST)), {});
    expect(answer.status).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(decodeURIComponent(answer.message ?? '')).toContain(`${GATEWAY_TIMEOUT_MS} ms`);
    await waitFor(async () => (await rpcCount('StreamPredict', 'deadline_exceeded')) === before.deadline + 1);

    const res = await fetch(`${mesh.gateway.httpUrl}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Hello', max_tokens: 200, temperature: 0 }),
    });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ error: { code: 'timeout', type: 'timeout_error' } });
  });

  it('a client that disconnects is still counted as canceled; the worker’s slots are freed', async () => {
    const before = await counts('StreamPredict');
    const call = channel.makeServerStreamRequest(
      `/${SERVICE}/StreamPredict`,
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => b,
      toBinary(StreamPredictRequestSchema, create(StreamPredictRequestSchema, REQUEST)),
      new grpc.Metadata(),
    );
    call.on('error', () => undefined);
    // Gone after the first message, mid-generation.
    await new Promise((r) => call.once('data', r));
    call.cancel();
    await waitFor(async () => (await rpcCount('StreamPredict', 'canceled')) === before.canceled + 1);
    expect(await rpcCount('StreamPredict', 'deadline_exceeded')).toBe(before.deadline);
    await waitFor(async () => (await runningRequests(mesh.worker)) === 0);
  });
});
