import { connect, constants } from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';

import { create, toBinary } from '@bufbuild/protobuf';
import { createMetrics } from '@tokenmesh/metrics';
import { GenerateRequestSchema, GenerationService } from '@tokenmesh/proto';

import { callerDeadlineInterceptor, callerTimeoutMs, rpcMetricsInterceptor, type ServerHandle, startServer } from '../src';
import { ids, testRoutes } from './fixtures';

const METHOD = `${GenerationService.typeName}/Generate`;

describe('callerTimeoutMs', () => {
  it('reads grpc-timeout in every unit and connect-timeout-ms; nothing for none or garbage', () => {
    expect(callerTimeoutMs(new Headers({ 'grpc-timeout': '2S' }))).toBe(2000);
    expect(callerTimeoutMs(new Headers({ 'grpc-timeout': '1500m' }))).toBe(1500);
    expect(callerTimeoutMs(new Headers({ 'grpc-timeout': '3M' }))).toBe(180_000);
    expect(callerTimeoutMs(new Headers({ 'grpc-timeout': '250000u' }))).toBe(250);
    expect(callerTimeoutMs(new Headers({ 'connect-timeout-ms': '700' }))).toBe(700);
    expect(callerTimeoutMs(new Headers({ 'grpc-timeout': 'soon' }))).toBeUndefined();
    expect(callerTimeoutMs(new Headers())).toBeUndefined();
  });
});

describe('callerDeadlineInterceptor: a client resetting its stream at its own deadline', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    const metrics = createMetrics('test');
    // 50 chunks × 100 ms: every call below is still running when its client resets it.
    server = await startServer({
      routes: testRoutes({ chunkDelayMs: 100 }),
      port: 0,
      http1Port: 0,
      host: '127.0.0.1',
      metrics,
      interceptors: [callerDeadlineInterceptor(), rpcMetricsInterceptor(metrics)],
    });
  });
  afterAll(() => server.close(1000));

  const count = async (code: string): Promise<number> => {
    const text = await (await fetch(`${server.http1Url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('tokenmesh_rpc_server_requests_total{') && l.includes(`method="${METHOD}"`) && l.includes(`code="${code}"`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  /** A gRPC Generate on a bare HTTP/2 stream with `grpc-timeout`, reset with CANCEL (what grpc-js sends at its deadline) after `resetAfterMs`. */
  async function callAndReset(timeoutMs: number, resetAfterMs: number): Promise<void> {
    const session = connect(server.url);
    const req = session.request({
      ':method': 'POST',
      ':path': `/${METHOD}`,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`,
    });
    req.on('error', () => undefined);
    req.on('data', () => undefined);
    const message = toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { promptTokenIds: ids(50) }));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    Buffer.from(message).copy(frame, 5);
    req.end(frame);
    await sleep(resetAfterMs);
    req.close(constants.NGHTTP2_CANCEL);
    session.close();
  }

  /** Waits until `code`'s count moved from `before`, then returns it. */
  async function settled(code: string, before: number): Promise<number> {
    for (let i = 0; i < 100 && (await count(code)) === before; i++) await sleep(20);
    return count(code);
  }

  it('a reset just before the server timer fires is the deadline: counted deadline_exceeded, not canceled', async () => {
    const before = { deadline: await count('deadline_exceeded'), canceled: await count('canceled') };
    // A 3 s deadline leaves 650 ms (the 20% slack and the 50 ms gap) for the server to see the
    // call later than the client started it: a loaded full suite delays that by hundreds of ms.
    await callAndReset(3000, 2950);
    expect(await settled('deadline_exceeded', before.deadline)).toBe(before.deadline + 1);
    expect(await count('canceled')).toBe(before.canceled);
  });

  it('a reset long before the deadline stays canceled', async () => {
    const before = { deadline: await count('deadline_exceeded'), canceled: await count('canceled') };
    await callAndReset(5000, 200);
    expect(await settled('canceled', before.canceled)).toBe(before.canceled + 1);
    expect(await count('deadline_exceeded')).toBe(before.deadline);
  });
});
