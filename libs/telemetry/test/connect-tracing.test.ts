import { setTimeout as sleep } from 'node:timers/promises';

import { Code, ConnectError } from '@connectrpc/connect';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { GenerationService, TokenizerService } from '@tokenmesh/proto';

import { ATTR, clientTracingInterceptor, serverTracingInterceptor, tracer } from '../src';
import { h2Client, type H2Server, startH2Server } from './helpers/h2';
import { memoryTelemetry, ms, only, serviceOf } from './helpers/memory-telemetry';

// Three services in one process, as under `npm start`: gateway (this test) → router → inference,
// each over a real HTTP/2 connection, each with its own per-service tracer.
const { telemetry, spans, reset } = memoryTelemetry('gateway');
const GENERATE = 'tokenmesh.generation.v1.GenerationService/Generate';

let inference: H2Server;
let router: H2Server;
let toInference: ReturnType<typeof h2Client<typeof GenerationService>>;
let gateway: ReturnType<typeof h2Client<typeof GenerationService>>;
/** Streaming handlers still running: a test that cancels waits for them before the next. */
let handlers = 0;

// connect-node logs "handler for rpc … failed" when it writes the end of a stream whose caller
// has already reset it, which the cancellation test does on purpose. Only that line is dropped.
const consoleError = console.error;
jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
  if (!(String(args[0]).startsWith('handler for rpc') && String(args[1]).includes('ERR_HTTP2_INVALID_STREAM'))) {
    consoleError(...args);
  }
});

beforeAll(async () => {
  inference = await startH2Server(
    (r) => {
      r.service(GenerationService, {
        async *generate(req, ctx) {
          if (req.model === 'missing') throw new ConnectError('no such model', Code.NotFound);
          if (req.model === 'broken') throw new ConnectError('worker crashed', Code.Internal);
          handlers++;
          try {
            for (let i = 0; i < 3; i++) {
              await sleep(25, undefined, { signal: ctx.signal });
              yield { tokenIds: [i], workerId: 'w1' };
            }
          } finally {
            handlers--;
          }
        },
      });
      r.service(TokenizerService, { encode: (req) => ({ tokenIds: [req.text.length], prompt: req.text }) });
    },
    [serverTracingInterceptor(tracer('inference'))],
  );
  toInference = h2Client(GenerationService, inference.url, [clientTracingInterceptor(tracer('router'))]);
  router = await startH2Server(
    (r) => {
      r.service(GenerationService, {
        async *generate(req, ctx) {
          // The handler runs inside its server span, so it can annotate it.
          trace.getActiveSpan()?.setAttribute(ATTR.strategy, 'round_robin');
          handlers++;
          try {
            yield* toInference.client.generate(req, { signal: ctx.signal });
          } finally {
            handlers--;
          }
        },
      });
    },
    [serverTracingInterceptor(tracer('router'))],
  );
  gateway = h2Client(GenerationService, router.url, [clientTracingInterceptor(tracer('gateway'))]);
});

afterAll(async () => {
  gateway.close();
  toInference.close();
  await router.close();
  await inference.close();
  await telemetry.shutdown();
});

beforeEach(() => reset());

/** The one span of `kind` from `service`; fails the test otherwise. */
function pick(all: ReadableSpan[], kind: SpanKind, service: string): ReadableSpan {
  const found = all.filter((s) => s.kind === kind && serviceOf(s) === service);
  if (found.length !== 1) throw new Error(`expected one ${SpanKind[kind]} span of ${service}, got ${found.length}`);
  return found[0]!;
}

/** The four RPC spans of one gateway → router → inference call. */
function hops(all: ReadableSpan[]) {
  return {
    gatewayClient: pick(all, SpanKind.CLIENT, 'gateway'),
    routerServer: pick(all, SpanKind.SERVER, 'router'),
    routerClient: pick(all, SpanKind.CLIENT, 'router'),
    inferenceServer: pick(all, SpanKind.SERVER, 'inference'),
  };
}

const id = (s: ReadableSpan) => s.spanContext().spanId;
const parent = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe('Connect tracing interceptors over HTTP/2', () => {
  it('puts a streamed call through two hops into one trace with correct parents and services', async () => {
    const tokens: number[] = [];
    let lastMessageAt = 0;
    await trace.getTracer('test').startActiveSpan('user request', async (root) => {
      for await (const chunk of gateway.client.generate({ model: 'tiny', requestId: 'r1' })) {
        tokens.push(...chunk.tokenIds);
        lastMessageAt = Date.now();
      }
      root.end();
    });
    expect(tokens).toEqual([0, 1, 2]);

    const all = await spans();
    const root = only(all, 'user request');
    const h = hops(all);
    expect(all).toHaveLength(5);
    expect(new Set(all.map((s) => s.spanContext().traceId))).toEqual(new Set([root.spanContext().traceId]));
    expect(parent(h.gatewayClient)).toBe(id(root));
    expect(parent(h.routerServer)).toBe(id(h.gatewayClient));
    expect(parent(h.routerClient)).toBe(id(h.routerServer));
    expect(parent(h.inferenceServer)).toBe(id(h.routerClient));

    for (const s of [h.gatewayClient, h.routerServer, h.routerClient, h.inferenceServer]) {
      expect(s.name).toBe(GENERATE);
      expect(s.status.code).toBe(SpanStatusCode.UNSET);
      expect(s.attributes).toMatchObject({
        [ATTR.rpcSystem]: 'grpc',
        [ATTR.rpcService]: 'tokenmesh.generation.v1.GenerationService',
        [ATTR.rpcMethod]: 'Generate',
        [ATTR.rpcGrpcStatusCode]: 0,
      });
    }
    expect(h.routerServer.attributes[ATTR.strategy]).toBe('round_robin');
    // The streaming client span lasts until the reader has the last message, not until headers.
    expect(ms(h.gatewayClient.endTime)).toBeGreaterThanOrEqual(lastMessageAt);
    expect(ms(h.gatewayClient.endTime) - ms(h.gatewayClient.startTime)).toBeGreaterThanOrEqual(60);
  });

  it('traces unary calls over the Connect protocol too', async () => {
    const tokenizer = h2Client(TokenizerService, inference.url, [clientTracingInterceptor(tracer('gateway'))], 'connect');
    try {
      const res = await tokenizer.client.encode({ model: 'tiny', text: 'hello' });
      expect(res.tokenIds).toEqual([5]);
    } finally {
      tokenizer.close();
    }
    const name = 'tokenmesh.tokenizer.v1.TokenizerService/Encode';
    const all = await spans();
    const client = only(all, name, SpanKind.CLIENT);
    const server = only(all, name, SpanKind.SERVER);
    expect(client.attributes[ATTR.rpcSystem]).toBe('connect_rpc');
    expect(server.spanContext().traceId).toBe(client.spanContext().traceId);
    expect(parent(server)).toBe(id(client));
    expect([serviceOf(client), serviceOf(server)]).toEqual(['gateway', 'inference']);
  });

  it.each([
    ['missing', Code.NotFound, 'not_found', SpanStatusCode.UNSET],
    ['broken', Code.Internal, 'internal', SpanStatusCode.ERROR],
  ])('records the Connect code of a failed call (%s)', async (model, code, codeName, serverStatus) => {
    const consume = async () => {
      for await (const _ of gateway.client.generate({ model })) void _;
    };
    await expect(consume()).rejects.toMatchObject({ code });
    const h = hops(await spans());
    for (const s of [h.gatewayClient, h.routerServer, h.routerClient, h.inferenceServer]) {
      expect(s.attributes).toMatchObject({ [ATTR.rpcGrpcStatusCode]: code, [ATTR.rpcConnectErrorCode]: codeName });
    }
    // Clients always see an error; servers only for codes that are their own fault.
    expect(h.gatewayClient.status.code).toBe(SpanStatusCode.ERROR);
    expect(h.routerClient.status.code).toBe(SpanStatusCode.ERROR);
    expect(h.inferenceServer.status.code).toBe(serverStatus);
    expect(h.routerServer.status.code).toBe(serverStatus);
  });

  it('ends every span of the chain when the caller cancels mid-stream', async () => {
    // Connect's clients cancel through the signal (leaving a for-await loop does not cancel).
    const abort = new AbortController();
    const consume = async () => {
      for await (const chunk of gateway.client.generate({ model: 'tiny' }, { signal: abort.signal })) {
        expect(chunk.tokenIds).toEqual([0]);
        // An explicit reason: jest's realm split makes Node's own AbortError look like an unknown
        // error to Connect, which would then reset the stream as INTERNAL instead of CANCEL.
        abort.abort(new ConnectError('caller went away', Code.Canceled));
      }
    };
    await expect(consume()).rejects.toMatchObject({ code: Code.Canceled });
    expect(pick(await spans(), SpanKind.CLIENT, 'gateway').attributes[ATTR.rpcConnectErrorCode]).toBe('canceled');
    expect(pick(await spans(), SpanKind.CLIENT, 'gateway').attributes[ATTR.errorType]).toBe('canceled');
    // The cancellation travels down the chain and ends the other hops too, well before the
    // stream would have finished.
    for (let i = 0; i < 2000 && (await spans()).length < 4; i++) await sleep(5);
    const h = hops(await spans());
    for (const s of [h.routerServer, h.routerClient, h.inferenceServer]) {
      expect(s.attributes[ATTR.rpcGrpcStatusCode]).toBe(Code.Canceled);
    }
    // A server is not at fault when its caller gives up.
    expect(h.inferenceServer.status.code).toBe(SpanStatusCode.UNSET);
    for (let i = 0; i < 2000 && handlers > 0; i++) await sleep(5);
    await sleep(20); // connect-node's write of the ended stream, and its log line
  });
});
