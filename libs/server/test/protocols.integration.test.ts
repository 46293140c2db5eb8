import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-node';
import { createCounter, createMetrics } from '@tokenmesh/metrics';
import { GenerateRequestSchema, GenerationService, TokenizerService } from '@tokenmesh/proto';

import { createServiceClient, type ServerHandle, startServer } from '../src';
import { grpcJsClient, ids, testRoutes } from './fixtures';

describe('startServer serves one set of routes over every protocol', () => {
  const metrics = createMetrics('tokenizer');
  const calls = createCounter(metrics, { name: 'test_calls_total', help: 'Calls seen by the interceptor.' });
  // What the telemetry lib's interceptors do: see every call on every protocol, touch headers.
  const counting: Interceptor = (next) => async (req) => {
    calls.inc();
    const res = await next(req);
    res.header.set('x-intercepted', req.method.name);
    return res;
  };
  let server: ServerHandle;

  beforeAll(async () => {
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      http1Port: 0,
      routes: testRoutes(),
      interceptors: [counting],
      metrics,
      http: (req, res) => {
        const found = req.url === '/v1/models';
        res.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify(found ? { data: [{ id: 'tinygpt' }] } : { error: 'not found' }));
      },
    });
  });
  afterAll(() => server.close());

  it('listens on free ports and reports its URLs', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.http1Port).toBeGreaterThan(0);
    expect(server.http1Port).not.toBe(server.port);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('answers a grpc-js client, unary and server streaming (gRPC over HTTP/2)', async () => {
    const client = grpcJsClient(`127.0.0.1:${server.port}`);
    try {
      expect((await client.decode([7, 8])).text).toBe('7,8');
      const chunks = await client.generate(ids(3));
      expect(chunks.map((c) => c.tokenIds)).toEqual([[1], [2], [3]]);
      await expect(client.decode([])).rejects.toMatchObject({ code: 3 /* INVALID_ARGUMENT */, details: 'no token ids' });
    } finally {
      client.close();
    }
  });

  it('answers Connect JSON over HTTP/1.1, as curl -H "content-type: application/json" sends it', async () => {
    const url = `${server.http1Url}/${TokenizerService.typeName}/Decode`;
    const post = (body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const ok = await post({ tokenIds: [1, 2, 3] });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-intercepted')).toBe('Decode');
    expect(await ok.json()).toEqual({ text: '1,2,3' });

    const bad = await post({});
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ code: 'invalid_argument', message: 'no token ids' });
  });

  it('answers gRPC-Web over HTTP/1.1, as a browser calls it', async () => {
    const transport = createGrpcWebTransport({ baseUrl: server.http1Url!, httpVersion: '1.1' });
    const tokenizer = createClient(TokenizerService, transport);
    expect((await tokenizer.decode({ tokenIds: [4] })).text).toBe('4');
    const chunks = [];
    for await (const c of createClient(GenerationService, transport).generate({ promptTokenIds: ids(2), model: 'm' })) chunks.push(c);
    expect(chunks.map((c) => [c.tokenIds, c.model])).toEqual([
      [[1], 'm'],
      [[2], 'm'],
    ]);
  });

  it.each(['grpc', 'connect'] as const)('answers createServiceClient over HTTP/2 with %s', async (protocol) => {
    const { client, close } = createServiceClient(GenerationService, server.url, { protocol });
    try {
      const chunks = [];
      for await (const c of client.generate(create(GenerateRequestSchema, { promptTokenIds: ids(4) }))) chunks.push(c.tokenIds[0]);
      expect(chunks).toEqual([1, 2, 3, 4]);
      const tokenizer = createServiceClient(TokenizerService, server.url, { protocol });
      await expect(tokenizer.client.decode({})).rejects.toEqual(new ConnectError('no token ids', Code.InvalidArgument));
      tokenizer.close();
    } finally {
      close();
    }
  });

  it('serves /health, /ready, /metrics and the extra HTTP handler next to the RPCs', async () => {
    const get = (path: string) => fetch(`${server.http1Url}${path}`);
    expect((await get('/health')).status).toBe(200);
    const ready = await get('/ready');
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
    const text = await (await get('/metrics')).text();
    expect(text).toMatch(/^tokenmesh_test_calls_total\{service="tokenizer"\} [1-9]/m);
    expect(await (await get('/v1/models')).json()).toEqual({ data: [{ id: 'tinygpt' }] });
    expect((await get('/nope')).status).toBe(404);
  });

  it('refuses to start on a port already in use', async () => {
    await expect(startServer({ host: '127.0.0.1', port: server.port, routes: testRoutes() })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});
