import { performance } from 'node:perf_hooks';

import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-node';
import { createLogger } from '@tokenmesh/logging';
import { GenerationService, TokenizerService } from '@tokenmesh/proto';

import { createServiceClient, type ServerHandle, type ServiceClient, startServer } from '../src';
import type { TestServiceOptions } from './fixtures';
import { ids, testRoutes } from './fixtures';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('ServerHandle.close', () => {
  let server: ServerHandle | undefined;
  const clients: ServiceClient<never>[] = [];
  const logs: string[] = [];
  const logger = createLogger({ service: 'test', sink: (line) => logs.push((JSON.parse(line) as { msg: string }).msg) });
  const start = async (opts: TestServiceOptions) => {
    logs.length = 0;
    server = await startServer({ host: '127.0.0.1', port: 0, http1Port: 0, routes: testRoutes(opts), logger });
    return server;
  };
  const client = <S extends typeof GenerationService | typeof TokenizerService>(s: S, url: string) => {
    const c = createServiceClient(s, url);
    clients.push(c as never);
    return c;
  };
  afterEach(async () => {
    await server?.close(0);
    for (const c of clients.splice(0)) c.close();
  });

  it('lets in-flight streams finish within the grace period while refusing new calls', async () => {
    const s = await start({ chunkDelayMs: 40 });
    const gen = client(GenerationService, s.url);
    const stream = gen.client.generate({ promptTokenIds: ids(6) })[Symbol.asyncIterator]();
    const h1Stream = collect(
      createClient(GenerationService, createGrpcWebTransport({ baseUrl: s.http1Url!, httpVersion: '1.1' })).generate({
        promptTokenIds: ids(5),
      }),
    );
    const first = await stream.next(); // both streams are now in flight

    const t0 = performance.now();
    let closedAt = 0;
    const closed = s.close(5_000).then(() => (closedAt = performance.now()));

    // A new connection, a new stream on the open HTTP/2 connection (the client reconnects after
    // GOAWAY), a new HTTP/1.1 connection. Outside jest Connect reports these as UNAVAILABLE; in
    // jest's VM context Node's errors fail its `instanceof Error` check and read as INTERNAL, so
    // assert on the cause both share.
    const refused = { rawMessage: expect.stringContaining('ECONNREFUSED') };
    await expect(client(TokenizerService, s.url).client.decode({ tokenIds: [1] })).rejects.toMatchObject(refused);
    await expect(createClient(TokenizerService, gen.transport).decode({ tokenIds: [1] })).rejects.toMatchObject(refused);
    await expect(fetch(`${s.http1Url}/health`)).rejects.toThrow('fetch failed');

    const rest = await collect({ [Symbol.asyncIterator]: () => stream });
    const streamEnd = performance.now();
    expect([first.value, ...rest].map((c) => c?.tokenIds[0])).toEqual(ids(6));
    expect((await h1Stream).map((c) => c.tokenIds[0])).toEqual(ids(5));
    await closed;
    expect(closedAt).toBeGreaterThanOrEqual(streamEnd);
    expect(closedAt - t0).toBeLessThan(2_000); // drained, not the 5 s grace period
    expect(logs).not.toContain('grace period over, cancelling calls still in flight');
  });

  it('cancels streams still running when the grace period ends, and still resolves', async () => {
    const aborted: unknown[] = [];
    const s = await start({ chunkDelayMs: 50, onAbort: (reason) => aborted.push(reason) });
    const stream = client(GenerationService, s.url).client.generate({ promptTokenIds: ids(200) });
    const chunks: number[] = [];
    const consumed = (async () => {
      for await (const c of stream) {
        chunks.push(c.tokenIds[0]!);
        if (chunks.length === 1) void s.close(300);
      }
    })();

    const t0 = performance.now();
    await expect(consumed).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: 'server is shutting down' });
    await s.close();
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1_500);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.length).toBeLessThan(20);
    expect(aborted).toEqual([new ConnectError('server is shutting down', Code.Unavailable)]);
    expect(logs).toEqual(['server listening', 'server shutting down', 'grace period over, cancelling calls still in flight', 'server closed']);
  });

  it('ends a stream whose handler ignores cancellation when the grace period ends', async () => {
    const s = await start({ chunkDelayMs: 50, ignoreAbort: true });
    const stream = client(GenerationService, s.url).client.generate({ promptTokenIds: ids(100) });
    let closed: Promise<void> | undefined;
    const t0 = performance.now();
    const consumed = (async () => {
      for await (const _ of stream) closed ??= s.close(100);
    })();
    await expect(consumed).rejects.toMatchObject({ code: Code.Unavailable });
    await closed;
    // Well before the 500 ms after which connections are cut: the stream ended at the deadline.
    expect(performance.now() - t0).toBeLessThan(450);
  });

  it('cuts connections that a stalled client keeps open, so close always resolves', async () => {
    const s = await start({ chunkDelayMs: 10 });
    const stream = client(GenerationService, s.url)
      .client.generate({ promptTokenIds: ids(3) })
      [Symbol.asyncIterator]();
    await stream.next(); // and never read again: the HTTP/2 stream is never finished
    const t0 = performance.now();
    await s.close(100);
    expect(performance.now() - t0).toBeLessThan(1_500); // grace + 500 ms to flush, then cut
  });
});
