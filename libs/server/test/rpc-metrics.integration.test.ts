import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { createMetrics } from '@tokenmesh/metrics';
import { GenerationService, TokenizerService } from '@tokenmesh/proto';

import { rpcMetricsInterceptor, type ServerHandle, startServer } from '../src';
import { ids, testRoutes } from './fixtures';

describe('rpcMetricsInterceptor', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    const metrics = createMetrics('test');
    server = await startServer({ routes: testRoutes(), port: 0, http1Port: 0, host: '127.0.0.1', metrics, interceptors: [rpcMetricsInterceptor(metrics)] });
  });
  afterAll(() => server.close(1000));

  it('counts unary and streaming RPCs by method and code, and observes their durations', async () => {
    const transport = createConnectTransport({ baseUrl: server.http1Url!, httpVersion: '1.1' });
    const tokenizer = createClient(TokenizerService, transport);
    await tokenizer.decode({ tokenIds: [1] });
    await tokenizer.decode({ tokenIds: [] }).catch(() => undefined);
    for await (const _ of createClient(GenerationService, transport).generate({ promptTokenIds: ids(3) })) void _;

    const text = await (await fetch(`${server.http1Url}/metrics`)).text();
    const line = (method: string, code: string) =>
      text.split('\n').find((l) => l.startsWith('tokenmesh_rpc_server_requests_total{') && l.includes(`method="${method}"`) && l.includes(`code="${code}"`));
    expect(line('tokenmesh.tokenizer.v1.TokenizerService/Decode', 'ok')).toMatch(/ 1$/);
    expect(line('tokenmesh.tokenizer.v1.TokenizerService/Decode', 'invalid_argument')).toMatch(/ 1$/);
    expect(line('tokenmesh.generation.v1.GenerationService/Generate', 'ok')).toMatch(/ 1$/);
    expect(text).toMatch(/tokenmesh_rpc_server_duration_seconds_count\{[^}]*method="tokenmesh.generation.v1.GenerationService\/Generate"[^}]*\} 1/);
  });
});
