import { Code } from '@connectrpc/connect';
import { GenerationService, Health, TokenizerService } from '@tokenmesh/proto';

import { createServiceClient, type ServerHandle, type ServiceClient, ServingStatus, startServer } from '../src';
import { testRoutes } from './fixtures';

const { SERVING, NOT_SERVING, SERVICE_UNKNOWN } = ServingStatus;

describe('grpc.health.v1 on every server', () => {
  let server: ServerHandle;
  let health: ServiceClient<typeof Health>;

  beforeEach(async () => {
    server = await startServer({ host: '127.0.0.1', port: 0, http1Port: 0, routes: testRoutes(), serving: false });
    health = createServiceClient(Health, server.url);
  });
  afterEach(async () => {
    health.close();
    await server.close();
  });

  const ready = async () => (await fetch(`${server.http1Url}/ready`)).status;

  it('knows the overall status and every hosted service; unknown services are NOT_FOUND', async () => {
    expect((await health.client.check({})).status).toBe(NOT_SERVING);
    expect(await ready()).toBe(503);

    server.health.setAll(SERVING);
    expect((await health.client.check({})).status).toBe(SERVING);
    expect((await health.client.check({ service: TokenizerService.typeName })).status).toBe(SERVING);
    expect(await ready()).toBe(200);

    await expect(health.client.check({ service: 'no.such.Service' })).rejects.toMatchObject({ code: Code.NotFound });
    const { statuses } = await health.client.list({});
    expect(Object.fromEntries(Object.entries(statuses).map(([k, v]) => [k, v.status]))).toEqual({
      '': SERVING,
      [TokenizerService.typeName]: SERVING,
      [GenerationService.typeName]: SERVING,
    });
  });

  it('streams status changes to a watcher, and NOT_SERVING when close begins, then ends the watch', async () => {
    const seen: ServingStatus[] = [];
    const watch = (async () => {
      for await (const { status } of health.client.watch({ service: GenerationService.typeName })) {
        seen.push(status);
        if (status === NOT_SERVING && seen.length === 1) server.health.set(GenerationService.typeName, SERVING);
        if (status === SERVING) void server.close();
      }
    })();
    await watch; // ends on its own: the server finishes its watches when it shuts down
    expect(seen).toEqual([NOT_SERVING, SERVING, NOT_SERVING]);
    await expect(ready()).rejects.toThrow('fetch failed'); // and stopped accepting connections
  });

  it('tells a watcher of an unknown service SERVICE_UNKNOWN, then its status once registered', async () => {
    const ac = new AbortController();
    const seen: ServingStatus[] = [];
    const watch = (async () => {
      for await (const { status } of health.client.watch({ service: 'late.Service' }, { signal: ac.signal })) {
        seen.push(status);
        if (status === SERVICE_UNKNOWN) server.health.set('late.Service', SERVING);
        else ac.abort();
      }
    })();
    await expect(watch).rejects.toMatchObject({ code: Code.Canceled });
    expect(seen).toEqual([SERVICE_UNKNOWN, SERVING]);
  });
});
