import { create, type MessageInitShape, toJson } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { FinishReason, type GenerateRequest, type GenerateResponse, GenerateResponseSchema, GenerationService } from '@tokenmesh/proto';
import { initTelemetry, type Telemetry, tracer } from '@tokenmesh/telemetry';

import { createServiceClient, framedServerStream, type ServerHandle, type ServiceClient, startServer } from '../src';

type Ended = { name: string; kind: SpanKind; traceId: string; spanId: string; status: number; attributes: Record<string, unknown> };

const MESSAGES: MessageInitShape<typeof GenerateResponseSchema>[] = [
  { tokenIds: [11, 12], logprobs: [-0.5, -0.25], model: 'tinygpt', workerId: 'w1', variant: 'a' },
  { tokenIds: [13], logprobs: [-1.5], topLogprobs: [{ tokenIds: [13, 14], logprobs: [-1.5, -2] }] },
  {
    tokenIds: [14],
    finishReason: FinishReason.LENGTH,
    usage: { promptTokens: 2, completionTokens: 4, totalTokens: 6 },
    timings: { queueMs: 1, timeToFirstTokenMs: 2, decodeMs: 3, totalMs: 4 },
  },
];

/**
 * A real gRPC server answering by request id: `plain` streams MESSAGES, `full` is refused with
 * retry-after metadata, `fail-after` fails after one message, `hang` streams one message and
 * waits until cancelled, `echo` answers with the headers and deadline it was called with.
 */
function impl(cancelled: Map<string, unknown>) {
  return {
    async *generate(req: GenerateRequest, ctx: HandlerContext) {
      if (req.requestId === 'full') throw new ConnectError('queue full', Code.ResourceExhausted, { 'retry-after': '3' });
      if (req.requestId === 'echo') {
        const timeout = ctx.timeoutMs();
        yield {
          model: ctx.requestHeader.get('x-tenant') ?? '',
          workerId: ctx.requestHeader.get('traceparent') ?? '',
          variant: timeout === undefined ? 'none' : String(timeout),
        };
        return;
      }
      if (req.requestId.startsWith('hang')) {
        yield MESSAGES[0]!;
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        cancelled.set(req.requestId, ctx.signal.reason);
        return;
      }
      if (req.requestId === 'fail-after') {
        yield MESSAGES[0]!;
        throw new ConnectError('worker crashed', Code.Internal);
      }
      yield* MESSAGES;
    },
  };
}

describe('framedServerStream: a server-streaming gRPC call read off the HTTP/2 connection (a real gRPC server, spans from the SDK)', () => {
  const cancelled = new Map<string, unknown>();
  const ended: Ended[] = [];
  let telemetry: Telemetry;
  let server: ServerHandle;
  let sc: ServiceClient<typeof GenerationService>;
  let framed: ServiceClient<typeof GenerationService>['client']['generate'];

  beforeAll(async () => {
    telemetry = initTelemetry({
      serviceName: 'framed-test',
      instrumentations: false,
      spanProcessors: [
        {
          onStart: () => undefined,
          onEnd: (s) =>
            ended.push({ name: s.name, kind: s.kind, ...s.spanContext(), status: s.status.code, attributes: { ...s.attributes } } as unknown as Ended),
          forceFlush: () => Promise.resolve(),
          shutdown: () => Promise.resolve(),
        },
      ],
    });
    server = await startServer({ host: '127.0.0.1', port: 0, routes: (r) => r.service(GenerationService, impl(cancelled)) });
    sc = createServiceClient(GenerationService, server.url);
    framed = framedServerStream(sc, GenerationService.method.generate, sc.client.generate, {
      tracer: tracer('framed-test'),
      maxBytes: 1 << 20,
      peer: 'the router',
    });
  });

  afterAll(async () => {
    sc?.close();
    await server?.close(1000);
    await telemetry?.shutdown();
  });

  const request = (requestId: string) => ({ requestId, model: 'tinygpt', promptTokenIds: [1, 2], sampling: { maxTokens: 4 } });
  const json = (ms: GenerateResponse[]) => ms.map((m) => toJson(GenerateResponseSchema, create(GenerateResponseSchema, m)));

  async function read(call: AsyncIterable<GenerateResponse>): Promise<{ messages: GenerateResponse[]; error?: ConnectError }> {
    const messages: GenerateResponse[] = [];
    try {
      for await (const m of call) messages.push(m);
      return { messages };
    } catch (err) {
      return { messages, error: err as ConnectError };
    }
  }

  it('hands out the same messages as the Connect client, in a CLIENT span whose context the server receives', async () => {
    const viaConnect = await read(sc.client.generate(request('plain')));
    const viaFrames = await read(framed(request('plain')));
    expect(viaFrames.error).toBeUndefined();
    expect(json(viaFrames.messages)).toEqual(json(viaConnect.messages));
    expect(viaFrames.messages).toHaveLength(3);
    expect(viaFrames.messages[2]!.usage?.totalTokens).toBe(6);

    ended.length = 0;
    const parent = tracer('framed-test').startSpan('parent');
    const echo = await context.with(trace.setSpan(context.active(), parent), () => read(framed(request('echo'), { headers: { 'x-tenant': 'acme' } })));
    parent.end();
    const [m] = echo.messages;
    expect(m!.model).toBe('acme');
    expect(m!.variant).toBe('none');
    const client = ended.find((s) => s.name === `${GenerationService.typeName}/Generate`)!;
    expect(client).toMatchObject({ kind: SpanKind.CLIENT, traceId: parent.spanContext().traceId, status: SpanStatusCode.UNSET });
    expect(client.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.method': 'Generate', 'rpc.grpc.status_code': 0 });
    // traceparent: version-traceId-spanId-flags, the CLIENT span's own id as the parent of the next hop.
    expect(m!.workerId).toBe(`00-${client.traceId}-${client.spanId}-01`);
  });

  it('fails as the Connect client does: the status, its message and metadata (retry-after), also after a message', async () => {
    const viaConnect = await read(sc.client.generate(request('full')));
    const viaFrames = await read(framed(request('full')));
    expect(viaFrames.error).toBeInstanceOf(ConnectError);
    expect(viaFrames.error!.code).toBe(Code.ResourceExhausted);
    expect(viaFrames.error!.rawMessage).toBe(viaConnect.error!.rawMessage);
    expect(viaFrames.error!.metadata.get('retry-after')).toBe('3');

    ended.length = 0;
    const after = await read(framed(request('fail-after')));
    expect(after.messages).toHaveLength(1);
    expect(after.error!.code).toBe(Code.Internal);
    expect(after.error!.rawMessage).toBe('worker crashed');
    const span = ended.find((s) => s.kind === SpanKind.CLIENT)!;
    expect(span.status).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['rpc.grpc.status_code']).toBe(Code.Internal);
  });

  it('sends its deadline as grpc-timeout and gives up at it with DEADLINE_EXCEEDED; the server is cancelled', async () => {
    const echo = await read(framed(request('echo'), { timeoutMs: 5000 }));
    const seen = Number(echo.messages[0]!.variant);
    expect(seen).toBeGreaterThan(4000);
    expect(seen).toBeLessThanOrEqual(5000);

    const t0 = performance.now();
    const hung = await read(framed(request('hang-deadline'), { timeoutMs: 300 }));
    expect(hung.messages).toHaveLength(1);
    expect(hung.error!.code).toBe(Code.DeadlineExceeded);
    expect(performance.now() - t0).toBeLessThan(3000);
    for (let i = 0; i < 100 && !cancelled.has('hang-deadline'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(cancelled.has('hang-deadline')).toBe(true);
  });

  it("cancels the server's stream at once when the caller aborts or stops reading; a reader that stops is no failure", async () => {
    const ac = new AbortController();
    const reason = new ConnectError('the generation ended', Code.Canceled);
    const call = framed(request('hang-abort'), { signal: ac.signal })[Symbol.asyncIterator]();
    expect((await call.next()).value.tokenIds).toEqual([11, 12]);
    const pending = call.next();
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);

    ended.length = 0;
    const it = framed(request('hang-break'))[Symbol.asyncIterator]();
    await it.next();
    await it.return!();
    for (let i = 0; i < 100 && !(cancelled.has('hang-abort') && cancelled.has('hang-break')); i++) await new Promise((r) => setTimeout(r, 20));
    expect([...cancelled.keys()]).toEqual(expect.arrayContaining(['hang-abort', 'hang-break']));
    const span = ended.find((s) => s.kind === SpanKind.CLIENT)!;
    expect(span.status).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['rpc.grpc.status_code']).toBe(Code.Canceled);
  });

  it('fails a response message past maxBytes with RESOURCE_EXHAUSTED, and takes the Connect path in process or when asked for headers', async () => {
    const small = framedServerStream(sc, GenerationService.method.generate, sc.client.generate, {
      tracer: tracer('framed-test'),
      maxBytes: 8,
      peer: 'the router',
    });
    const r = await read(small(request('plain')));
    expect(r.error!.code).toBe(Code.ResourceExhausted);
    expect(r.error!.rawMessage).toMatch(/larger than the limit of 8 bytes/);

    let viaConnect = 0;
    const fallback = (...a: Parameters<typeof sc.client.generate>) => {
      viaConnect++;
      return sc.client.generate(...a);
    };
    const inProcess = framedServerStream({ session: () => undefined }, GenerationService.method.generate, fallback, {
      tracer: tracer('t'),
      maxBytes: 1 << 20,
      peer: 'p',
    });
    expect((await read(inProcess(request('plain')))).messages).toHaveLength(3);
    const withHeader = framedServerStream(sc, GenerationService.method.generate, fallback, { tracer: tracer('t'), maxBytes: 1 << 20, peer: 'p' });
    let header: Headers | undefined;
    expect((await read(withHeader(request('plain'), { onHeader: (h) => (header = h) }))).messages).toHaveLength(3);
    expect(header).toBeInstanceOf(Headers);
    expect(viaConnect).toBe(2);
  });
});
