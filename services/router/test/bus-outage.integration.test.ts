import { resolve } from 'node:path';

import { ConnectError } from '@connectrpc/connect';
import { metricSum } from '@tokenmesh/metrics';
import { GenerationService } from '@tokenmesh/proto';
import { createRuntime, createServiceClient, type RunningService, type ServiceClient, type ServiceRuntime } from '@tokenmesh/server';
import { type ServerHandle, type ServiceProcess, startNats, startServiceProcess, waitFor } from '@tokenmesh/testing';

import { loadConfig, start } from '../src';

const MODEL = resolve(__dirname, '../../../models/tinygpt');
const HEARTBEAT_MS = 200;

/**
 * The data plane outlives the control plane: real NATS, a real worker found by its heartbeats
 * and the router in this process. NATS stops; the worker's health Watch stays SERVING, so it
 * keeps serving past three missed beats, and the router says the bus is down.
 */
describe('router while NATS is down (real NATS, real worker)', () => {
  let nats: ServerHandle;
  let rt: ServiceRuntime;
  let router: RunningService;
  let client: ServiceClient<typeof GenerationService>;
  let worker: ServiceProcess;

  const generate = async (): Promise<{ worker?: string; error?: ConnectError }> => {
    try {
      let id: string | undefined;
      for await (const m of client.client.generate(
        { model: 'tinygpt', promptTokenIds: [10, 20], sampling: { maxTokens: 2, temperature: 0 } },
        { timeoutMs: 10_000 },
      ))
        id = m.workerId;
      return { worker: id };
    } catch (e) {
      return { error: ConnectError.from(e) };
    }
  };
  const busGauge = () => metricSum(rt.metrics, 'tokenmesh_router_bus_connected');
  const status = async () => (await fetch(`${router.server.http1Url}/status`)).json() as Promise<{ bus: string; workers: Record<string, number> }>;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    nats = await startNats();
    rt = createRuntime('router');
    router = await start(loadConfig({ NATS_URL: nats.url, ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0', ROUTER_HEARTBEAT_MS: String(HEARTBEAT_MS) }), rt);
    client = createServiceClient(GenerationService, router.server.url);
    worker = await startServiceProcess('inference', {
      NATS_URL: nats.url,
      INFERENCE_PORT: '0',
      INFERENCE_HTTP_PORT: '0',
      INFERENCE_MODELS: MODEL,
      INFERENCE_WORKER_ID: 'w1',
      INFERENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
    });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await router?.close(1000);
    await worker?.stop(5000);
    await nats?.stop();
  }, 60_000);

  it('keeps serving through the outage, reports the bus down, and resumes heartbeats when NATS is back', async () => {
    await waitFor(async () => (await generate()).worker === 'w1', { timeoutMs: 10_000, intervalMs: 50 });
    // The health Watch must be SERVING before the bus goes, or the worker has nothing to stay on.
    await waitFor(async () => (await status()).workers['eligible'] === 1);
    expect(await busGauge()).toBe(1);
    expect((await status()).bus).toBe('connected');

    await nats.kill('SIGTERM');
    await waitFor(async () => (await busGauge()) === 0);
    expect((await status()).bus).toBe('disconnected');
    // Well past the three missed beats that would make the worker stale with the bus up.
    await pause(HEARTBEAT_MS * 6);
    for (let i = 0; i < 5; i++) expect(await generate()).toEqual({ worker: 'w1' });
    expect((await status()).workers).toMatchObject({ eligible: 1, stale: 0 });
    expect((await client.client.listServedModels({})).models.map((m) => m.name)).toEqual(['tinygpt']);
    // Still ready (it serves), and /ready says why the pool is not refreshed.
    const ready = await fetch(`${router.server.http1Url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', bus: 'disconnected', workers: { eligible: 1 } });

    // NATS back on its port: the router and the worker reconnect, and heartbeats count again.
    await nats.restart();
    await waitFor(async () => (await busGauge()) === 1, { timeoutMs: 15_000, intervalMs: 50 });
    expect((await status()).bus).toBe('connected');
    await pause(HEARTBEAT_MS * 6);
    expect(await generate()).toEqual({ worker: 'w1' });
    expect((await status()).workers).toMatchObject({ eligible: 1, stale: 0 });
  }, 60_000);
});
