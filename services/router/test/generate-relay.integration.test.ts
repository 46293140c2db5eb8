import { create, fromBinary, type MessageInitShape, toBinary, toJson } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import { metricSum } from '@tokenmesh/metrics';
import { FinishReason, type GenerateRequest, GenerateRequestSchema, type GenerateResponse, GenerateResponseSchema, GenerationService } from '@tokenmesh/proto';
import {
  createRuntime,
  createServiceClient,
  type RunningService,
  type ServerHandle,
  type ServiceClient,
  type ServiceRuntime,
  startServer,
} from '@tokenmesh/server';
import { grpcJsChannel, grpcJsServerStream, waitFor } from '@tokenmesh/testing';

import { loadConfig, start, WORKER_HEADER } from '../src';

const MODEL = { name: 'tinygpt', version: '1', contextLength: 512, workers: 1, capacity: 64, parent: '', digest: '', traffic: [] };

/** The three messages every fake worker streams for a plain request (token ids, logprobs, usage, timings). */
function answer(worker: string): MessageInitShape<typeof GenerateResponseSchema>[] {
  return [
    { tokenIds: [11, 12], logprobs: [-0.5, -0.25], model: 'tinygpt', workerId: worker },
    { tokenIds: [13], logprobs: [-1.5], model: 'tinygpt', workerId: worker },
    {
      tokenIds: [14],
      logprobs: [-2],
      finishReason: FinishReason.LENGTH,
      usage: { promptTokens: 2, completionTokens: 4, totalTokens: 6 },
      timings: { queueMs: 1, timeToFirstTokenMs: 2, decodeMs: 3, totalMs: 4 },
      model: 'tinygpt',
      workerId: worker,
    },
  ];
}

/**
 * Real gRPC servers on loopback stand in for workers, each answering by the request id: `fail-once-*`
 * fails its first attempt before any message (UNAVAILABLE), `fail-after-*` fails after one message,
 * `full-*` is refused RESOURCE_EXHAUSTED with retry-after, `hang-*` waits until it is cancelled.
 */
function fakeWorker(id: string, seen: Map<string, number>, cancelled: Set<string>): Partial<ServiceImpl<typeof GenerationService>> {
  return {
    listServedModels: () => ({ models: [MODEL] }),
    async *generate(req: GenerateRequest, ctx: HandlerContext) {
      const n = (seen.get(req.requestId) ?? 0) + 1;
      seen.set(req.requestId, n);
      if (req.requestId.startsWith('fail-once') && n === 1) throw new ConnectError('worker restarting', Code.Unavailable);
      if (req.requestId.startsWith('full')) throw new ConnectError('queue full', Code.ResourceExhausted, { 'retry-after': '3' });
      if (req.requestId.startsWith('hang')) {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        cancelled.add(req.requestId);
        return;
      }
      const messages = answer(id);
      if (req.requestId.startsWith('fail-after')) {
        yield messages[0]!;
        throw new ConnectError('worker crashed', Code.Internal);
      }
      yield* messages;
    },
  };
}

describe("the router's frame relay for gRPC callers (real gRPC servers as workers, grpc-js and Connect callers)", () => {
  const seen = new Map<string, number>();
  const cancelled = new Set<string>();
  let workers: ServerHandle[];
  let rt: ServiceRuntime;
  let router: RunningService;
  let grpcJs: grpc.Client;
  let connect: ServiceClient<typeof GenerationService>;
  let grpcConnect: ServiceClient<typeof GenerationService>;

  beforeAll(async () => {
    workers = await Promise.all(
      ['a', 'b'].map((id) => startServer({ host: '127.0.0.1', port: 0, routes: (r) => r.service(GenerationService, fakeWorker(id, seen, cancelled)) })),
    );
    rt = createRuntime('router');
    router = await start(loadConfig({ ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0', ROUTER_WORKERS: workers.map((w) => w.url).join(',') }), rt);
    grpcJs = grpcJsChannel(router.server.url);
    connect = createServiceClient(GenerationService, router.server.url, { protocol: 'connect' });
    grpcConnect = createServiceClient(GenerationService, router.server.url);
    await waitFor(async () => (await connect.client.listServedModels({})).models.length === 1, { timeoutMs: 10_000 });
  }, 30_000);

  afterAll(async () => {
    grpcJs?.close();
    connect?.close();
    grpcConnect?.close();
    await router?.close(1000);
    await Promise.all((workers ?? []).map((w) => w.close(1000)));
  });

  const request = (requestId: string) => ({ requestId, model: 'tinygpt', promptTokenIds: [1, 2], sampling: { maxTokens: 4 } });

  /** A grpc-js call's messages, response headers and status. */
  async function viaGrpcJs(requestId: string, deadlineMs?: number) {
    const call =
      deadlineMs === undefined
        ? grpcJsServerStream(grpcJs, GenerationService.method.generate, request(requestId))
        : (grpcJs.makeServerStreamRequest(
            `/${GenerationService.typeName}/Generate`,
            (m: GenerateRequest) => Buffer.from(toBinary(GenerateRequestSchema, m)),
            (b: Buffer) => fromBinary(GenerateResponseSchema, b),
            create(GenerateRequestSchema, request(requestId)),
            new grpc.Metadata(),
            { deadline: Date.now() + deadlineMs },
          ) as unknown as ReturnType<typeof grpcJsServerStream<typeof GenerateRequestSchema, typeof GenerateResponseSchema>>);
    const headers = new Promise<grpc.Metadata>((resolve) => (call as unknown as grpc.ClientReadableStream<unknown>).once('metadata', resolve));
    const status = new Promise<grpc.StatusObject>((resolve) => (call as unknown as grpc.ClientReadableStream<unknown>).once('status', resolve));
    const messages: GenerateResponse[] = [];
    let error: grpc.ServiceError | undefined;
    try {
      for await (const m of call) messages.push(m);
    } catch (err) {
      error = err as grpc.ServiceError;
    }
    return { messages, error, status: await status, headers: error ? undefined : await headers };
  }

  async function viaConnect(c: ServiceClient<typeof GenerationService>, requestId: string) {
    const messages: GenerateResponse[] = [];
    for await (const m of c.client.generate(request(requestId))) messages.push(m);
    return messages;
  }

  const json = (ms: GenerateResponse[]) => ms.map((m) => toJson(GenerateResponseSchema, create(GenerateResponseSchema, m)));

  it('relays the worker messages unchanged but for the variant: equal to what the Connect protocol path decodes and re-encodes', async () => {
    const relayed = await viaGrpcJs('plain-1');
    expect(relayed.error).toBeUndefined();
    expect(relayed.messages.map((m) => m.tokenIds)).toEqual([[11, 12], [13], [14]]);
    expect(relayed.messages[2]!.usage?.totalTokens).toBe(6);
    expect(relayed.headers!.get(WORKER_HEADER)).toHaveLength(1);
    const decoded = await viaConnect(connect, 'plain-2');
    const viaConnectGrpc = await viaConnect(grpcConnect, 'plain-3');
    // The worker that served each differs by pick; the rest is byte for byte the same message.
    const same = (ms: GenerateResponse[]) => json(ms.map((m) => ({ ...m, workerId: '' })));
    expect(same(relayed.messages)).toEqual(same(decoded));
    expect(same(viaConnectGrpc)).toEqual(same(decoded));
    expect(new Set(relayed.messages.map((m) => m.variant))).toEqual(new Set(decoded.map((m) => m.variant)));
  });

  it('retries a failure before the first message on the other worker; the caller sees one whole stream', async () => {
    const r = await viaGrpcJs('fail-once-1');
    expect(r.error).toBeUndefined();
    expect(seen.get('fail-once-1')).toBe(2);
    expect(r.messages.map((m) => m.tokenIds)).toEqual([[11, 12], [13], [14]]);
  });

  it('ends a stream whose worker fails after a message with UNAVAILABLE, after relaying that message', async () => {
    const r = await viaGrpcJs('fail-after-1');
    expect(r.messages).toHaveLength(1);
    expect(r.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(r.error?.details).toMatch(/failed after 1 streamed messages: worker crashed/);
  });

  it("passes on a worker's refusal with its metadata (retry-after) when no worker has room", async () => {
    const r = await viaGrpcJs('full-1');
    expect(r.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(r.status.metadata.get('retry-after')).toEqual(['3']);
  });

  it("ends the call at the caller's deadline with DEADLINE_EXCEEDED and cancels the worker's call", async () => {
    const t0 = performance.now();
    const r = await viaGrpcJs('hang-deadline', 300);
    expect(r.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(performance.now() - t0).toBeLessThan(5000);
    await waitFor(() => cancelled.has('hang-deadline'), { timeoutMs: 5000 });
  });

  it("cancels the worker's call as soon as the caller cancels", async () => {
    const call = grpcJsServerStream(grpcJs, GenerationService.method.generate, request('hang-cancel'));
    (call as unknown as grpc.ClientReadableStream<unknown>).on('error', () => undefined);
    await waitFor(() => seen.has('hang-cancel'), { timeoutMs: 5000 });
    call.cancel();
    await waitFor(() => cancelled.has('hang-cancel'), { timeoutMs: 5000 });
  });

  it('answers a request body that is not a GenerateRequest INVALID_ARGUMENT, naming the message', async () => {
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      const call = grpcJs.makeServerStreamRequest(
        `/${GenerationService.typeName}/Generate`,
        () => Buffer.from([0x0a, 0xff]),
        (b: Buffer) => b,
        {},
      );
      call.on('data', () => undefined);
      call.on('error', resolve);
    });
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/tokenmesh\.generation\.v1\.GenerateRequest: the request body could not be decoded/);
  });

  it("counts relayed calls in the router's RPC metrics, by code", async () => {
    const method = `${GenerationService.typeName}/Generate`;
    const before = await metricSum(rt.metrics, 'tokenmesh_rpc_server_requests_total', { method, code: 'ok' });
    await viaGrpcJs('plain-metrics');
    expect(await metricSum(rt.metrics, 'tokenmesh_rpc_server_requests_total', { method, code: 'ok' })).toBe(before + 1);
    expect(await metricSum(rt.metrics, 'tokenmesh_rpc_server_requests_total', { method, code: 'resource_exhausted' })).toBeGreaterThanOrEqual(1);
  });
});
