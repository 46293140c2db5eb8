import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { GenerateResponseSchema, GenerationService, TokenizerService } from '@tokenmesh/proto';

import { createServiceClient, enableInProcessCalls, type ServerHandle, startServer } from '../src';
import { ids, testRoutes } from './fixtures';

/**
 * One contract for a client of a server in the same process, run over loopback HTTP/2 and over
 * in-process calls: the same answers, errors, headers, deadlines, cancellation and draining.
 */
describe.each(['network', 'in-process'] as const)('a service client over %s', (mode) => {
  let server: ServerHandle;
  const aborted: unknown[] = [];
  const seen: string[] = [];
  // Records the calls the server's interceptors see, and puts a header on every response.
  const serverInterceptor: Interceptor = (next) => async (req) => {
    seen.push(`server ${req.method.name} ${req.header.get('x-from-client') ?? ''}`);
    const res = await next(req);
    res.header.set('x-seen-by', 'server');
    return res;
  };
  const clientInterceptor: Interceptor = (next) => async (req) => {
    req.header.set('x-from-client', 'yes');
    seen.push(`client ${req.method.name}`);
    return next(req);
  };

  beforeAll(async () => {
    enableInProcessCalls(mode === 'in-process');
    server = await startServer({
      port: 0,
      host: '127.0.0.1',
      interceptors: [serverInterceptor],
      routes: (router) => {
        testRoutes({ chunkDelayMs: 5, onAbort: (r) => aborted.push(r) })(router);
        // A stream that sets a header before its first message and a trailer after its last.
        router.rpc(GenerationService.method.listServedModels, (_req, ctx) => {
          ctx.responseHeader.set('x-unary', 'header');
          ctx.responseTrailer.set('x-unary-trailer', 'trailer');
          return { models: [{ name: 'm', version: '1', contextLength: 8, workers: 1 }] };
        });
      },
    });
  });
  afterAll(async () => {
    await server?.close(1000);
    enableInProcessCalls(false);
  });

  const clients = () => ({
    tokenizer: createServiceClient(TokenizerService, server.url, { interceptors: [clientInterceptor] }),
    generation: createServiceClient(GenerationService, server.url, { interceptors: [clientInterceptor] }),
  });

  it('unary answers and errors keep their codes; both sides’ interceptors run in order, headers cross', async () => {
    const c = clients();
    try {
      seen.length = 0;
      expect((await c.tokenizer.client.decode({ tokenIds: [1, 2, 3] })).text).toBe('1,2,3');
      expect(seen).toEqual(['client Decode', 'server Decode yes']);
      const err = await failure(c.tokenizer.client.decode({ tokenIds: [] }));
      expect([err?.code, err?.rawMessage]).toEqual([Code.InvalidArgument, 'no token ids']);
      let header: string | null = null;
      let trailer: string | null = null;
      const models = await c.generation.client.listServedModels(
        {},
        { onHeader: (h) => (header = h.get('x-unary')), onTrailer: (t) => (trailer = t.get('x-unary-trailer')) },
      );
      expect(models.models[0]?.name).toBe('m');
      expect([header, trailer]).toEqual(['header', 'trailer']);
    } finally {
      c.tokenizer.close();
      c.generation.close();
    }
  });

  it('server streams deliver every message as a full message, with the server’s response headers', async () => {
    const c = clients();
    try {
      let seenBy: string | null = null;
      const chunks = [];
      for await (const m of c.generation.client.generate({ promptTokenIds: ids(4), model: 'x' }, { onHeader: (h) => (seenBy = h.get('x-seen-by')) }))
        chunks.push(m);
      expect(chunks.map((m) => m.tokenIds[0])).toEqual([1, 2, 3, 4]);
      // Fields the handler did not set read as their defaults, as after decoding.
      expect(chunks[0]).toEqual(create(GenerateResponseSchema, { tokenIds: [1], model: 'x' }));
      expect(seenBy).toBe('server');
    } finally {
      c.generation.close();
    }
  });

  it('a deadline ends the call with DEADLINE_EXCEEDED and aborts the handler', async () => {
    const c = clients();
    try {
      aborted.length = 0;
      const started = performance.now();
      const err = await (async () => {
        for await (const _ of c.generation.client.generate({ promptTokenIds: ids(200) }, { timeoutMs: 100 })) void _;
      })().catch((e: unknown) => ConnectError.from(e));
      expect(err?.code).toBe(Code.DeadlineExceeded);
      expect(performance.now() - started).toBeLessThan(2000);
      await waitUntil(() => aborted.length > 0);
    } finally {
      c.generation.close();
    }
  });

  it('the caller’s abort ends its read with CANCELED and aborts the handler', async () => {
    const c = clients();
    try {
      aborted.length = 0;
      const abort = new AbortController();
      let got = 0;
      const err = await (async () => {
        for await (const _ of c.generation.client.generate({ promptTokenIds: ids(200) }, { signal: abort.signal })) {
          if (++got === 2) abort.abort();
        }
      })().catch((e: unknown) => ConnectError.from(e));
      expect(err?.code).toBe(Code.Canceled);
      expect(got).toBe(2);
      await waitUntil(() => aborted.length > 0);
    } finally {
      c.generation.close();
    }
  });

  it('an unknown method is UNIMPLEMENTED', async () => {
    const c = clients();
    try {
      const err = await failure(c.tokenizer.client.encode({ model: 'x', text: 'y' }));
      expect(err?.code).toBe(Code.Unimplemented);
    } finally {
      c.tokenizer.close();
    }
  });
});

describe('in-process calls and a closing server', () => {
  afterEach(() => enableInProcessCalls(false));

  it('a stream in flight finishes within the grace period; a call after close began is UNAVAILABLE', async () => {
    enableInProcessCalls();
    const server = await startServer({ port: 0, host: '127.0.0.1', routes: testRoutes({ chunkDelayMs: 20 }) });
    const c = createServiceClient(GenerationService, server.url);
    try {
      const it = c.client.generate({ promptTokenIds: ids(10) })[Symbol.asyncIterator]();
      expect((await it.next()).value?.tokenIds).toEqual([1]);
      const closed = server.close(5000);
      const late = await failure(c.client.listServedModels({}));
      expect(late?.code).toBe(Code.Unavailable);
      const rest: number[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value.tokenIds[0]!);
      expect(rest).toEqual(ids(10).slice(1));
      await closed;
    } finally {
      c.close();
    }
  });

  it('a stream the caller aborts without reading on is over for the server: it closes at once', async () => {
    enableInProcessCalls();
    const server = await startServer({ port: 0, host: '127.0.0.1', routes: testRoutes({ chunkDelayMs: 10 }) });
    const c = createServiceClient(GenerationService, server.url);
    try {
      const abort = new AbortController();
      const it = c.client.generate({ promptTokenIds: ids(100) }, { signal: abort.signal })[Symbol.asyncIterator]();
      await it.next();
      abort.abort();
      const t0 = performance.now();
      await server.close(5000);
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      c.close();
    }
  });

  it('past the grace period the handler is cancelled and the caller gets UNAVAILABLE', async () => {
    enableInProcessCalls();
    const server = await startServer({ port: 0, host: '127.0.0.1', routes: testRoutes({ chunkDelayMs: 50, ignoreAbort: true }) });
    const c = createServiceClient(GenerationService, server.url);
    try {
      const it = c.client.generate({ promptTokenIds: ids(100) })[Symbol.asyncIterator]();
      await it.next();
      const closed = server.close(100);
      const err = await (async () => {
        for (let r = await it.next(); !r.done; r = await it.next()) void r;
      })().catch((e: unknown) => ConnectError.from(e));
      expect(err?.code).toBe(Code.Unavailable);
      await closed;
    } finally {
      c.close();
    }
  });
});

/** The call's error, undefined when it succeeded. */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );

async function waitUntil(ok: () => boolean, ms = 2000): Promise<void> {
  const until = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
