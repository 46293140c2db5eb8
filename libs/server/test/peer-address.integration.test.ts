import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { Health } from '@tokenmesh/proto';

import { createServiceClient, PEER_ADDRESS, startServer } from '../src';
import { testRoutes } from './fixtures';

describe('PEER_ADDRESS', () => {
  it("carries the client's socket address into every call, over HTTP/2 and HTTP/1.1", async () => {
    const seen: string[] = [];
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      http1Port: 0,
      routes: testRoutes(),
      interceptors: [(next) => (req) => (seen.push(req.contextValues.get(PEER_ADDRESS)), next(req))],
    });
    const h2 = createServiceClient(Health, server.url);
    try {
      await h2.client.check({});
      await createClient(Health, createConnectTransport({ baseUrl: server.http1Url!, httpVersion: '1.1' })).check({});
      expect(seen).toEqual(['127.0.0.1', '127.0.0.1']);
    } finally {
      h2.close();
      await server.close();
    }
  });
});
