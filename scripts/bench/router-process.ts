/**
 * The processes of the router benchmark: routers in this process (so their metrics can be read)
 * and inference workers as child processes, and the wait until a router reaches its workers.
 */
import { createLogger } from '@tokenmesh/logging';
import { GenerationService } from '@tokenmesh/proto';
import { loadConfig, start } from '@tokenmesh/router';
import { createRuntime, createServiceClient, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import { type ServiceProcess, startServiceProcess, waitFor } from '@tokenmesh/testing';

import { call, type Client } from './router-load';
import { MODEL } from './router-setup';

/** A router in this process with its own metrics registry; its logs below warn stay quiet. */
export interface Router {
  readonly rt: ServiceRuntime;
  readonly client: Client;
  close(): Promise<void>;
}

/** A router on free ports, heartbeat 200 ms, configured further by `env` (ROUTER_* variables). */
export async function startRouter(env: Record<string, string>): Promise<Router> {
  const rt: ServiceRuntime = { ...createRuntime('router'), logger: createLogger({ service: 'router', level: 'warn' }) };
  const service: RunningService = await start(loadConfig({ ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0', ROUTER_HEARTBEAT_MS: '200', ...env }), rt);
  const client = createServiceClient(GenerationService, service.server.url);
  return {
    rt,
    client,
    close: async () => {
      client.close();
      await service.close(2000);
    },
  };
}

/** Until a Generate through `c` has been served by each of `workers` (keys vary, for consistent hash). */
export async function awaitWorkers(c: Client, workers: readonly string[]): Promise<void> {
  const seen = new Set<string>();
  let i = 0;
  await waitFor(
    async () => {
      const s = await call(c, 1, `probe-${i++}`);
      if (s.error === undefined) seen.add(s.worker);
      return workers.every((w) => seen.has(w));
    },
    { timeoutMs: 20_000, intervalMs: 20 },
  );
}

/** An inference worker process and a client that calls it directly, bypassing any router. */
export interface Worker {
  proc: ServiceProcess;
  direct: Client;
  stop(): Promise<void>;
}

/** Starts a worker `id` on models/tinygpt, found by heartbeat on `natsUrl`, slowed by `stepDelayMs` per batch step. */
export type StartWorker = (id: string, weight: number, stepDelayMs: number) => Promise<Worker>;

/**
 * An inference worker process on the model, heartbeating every 200 ms on `natsUrl`, with one
 * intra-op thread so that both workers and the router share the machine alike.
 */
export async function startWorker(natsUrl: string, id: string, weight: number, stepDelayMs: number): Promise<Worker> {
  const proc = await startServiceProcess(
    'inference',
    {
      NATS_URL: natsUrl,
      INFERENCE_PORT: '0',
      INFERENCE_HTTP_PORT: '0',
      INFERENCE_MODELS: MODEL,
      INFERENCE_WORKER_ID: id,
      INFERENCE_HEARTBEAT_MS: '200',
      INFERENCE_WEIGHT: String(weight),
      INFERENCE_STEP_DELAY_MS: String(stepDelayMs),
      INFERENCE_INTRA_OP_THREADS: '1',
    },
    60_000,
  );
  const direct = createServiceClient(GenerationService, proc.url);
  const stop = async () => {
    direct.close();
    await proc.stop(5000);
  };
  return { proc, direct, stop };
}
