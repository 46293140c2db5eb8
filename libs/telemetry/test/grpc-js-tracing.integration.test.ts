import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { SpanKind } from '@opentelemetry/api';
import { GenerationService } from '@tokenmesh/proto';
import { type OtlpReceiver, startOtlpReceiver } from '@tokenmesh/testing';

import { ATTR, serverTracingInterceptor } from '../src';
import { type H2Server, startH2Server } from './helpers/h2';
import { memoryTelemetry, only } from './helpers/memory-telemetry';

// grpc-js is instrumented by patching it as it is required, which jest's module loader bypasses,
// so the caller runs as a real process, the way an external user or a service's main.ts would.
const ROOT = resolve(__dirname, '../../..');
const CALLER = join(__dirname, 'fixtures/grpc-js-caller.ts');
const GENERATE = 'tokenmesh.generation.v1.GenerationService/Generate';

const { telemetry, spans } = memoryTelemetry('inference');
let server: H2Server;
let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  server = await startH2Server(
    (r) => {
      r.service(GenerationService, {
        async *generate() {
          for (let i = 0; i < 3; i++) yield { tokenIds: [i] };
        },
      });
    },
    [serverTracingInterceptor()],
  );
});

afterAll(async () => {
  await server.close();
  await receiver.stop();
  await telemetry.shutdown();
});

describe('a grpc-js caller of a connect-node server', () => {
  it('is traced by instrumentation-grpc, and the server span continues its trace', async () => {
    const { stdout } = await promisify(execFile)(join(ROOT, 'node_modules/.bin/tsx'), [CALLER, server.url.replace('http://', '')], {
      cwd: ROOT,
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: 'otlp' },
      timeout: 30_000,
    });
    const caller = JSON.parse(stdout) as { traceId: string; tokens: number[] };
    expect(caller.tokens).toEqual([0, 1, 2]);

    // The caller exported through initTelemetry's OTLP exporter and flushed on shutdown.
    const exported = receiver.spans().filter((s) => s.traceId === caller.traceId);
    const root = exported.find((s) => s.name === 'caller request');
    const grpcClient = exported.find((s) => s.kind === 'client');
    expect(root?.serviceName).toBe('grpc-js-caller');
    expect(grpcClient).toMatchObject({
      serviceName: 'grpc-js-caller',
      parentSpanId: root?.spanId,
      attributes: { [ATTR.rpcSystem]: 'grpc', [ATTR.rpcService]: 'tokenmesh.generation.v1.GenerationService', [ATTR.rpcMethod]: 'Generate' },
    });

    // The connect-node server interceptor read the traceparent grpc-js sent.
    const serverSpan = only(await spans(), GENERATE, SpanKind.SERVER);
    expect(serverSpan.spanContext().traceId).toBe(caller.traceId);
    expect(serverSpan.parentSpanContext?.spanId).toBe(grpcClient?.spanId);
    expect(serverSpan.parentSpanContext?.isRemote).toBe(true);
    expect(serverSpan.attributes[ATTR.rpcGrpcStatusCode]).toBe(0);
  });
});
