import { basename, join } from 'node:path';

import { buildMesh, type Env, gatewayEnv, type MeshLauncher, type MeshServiceName } from '@tokenmesh/mesh';

import { type ServiceProcess, spawnUntil, startServiceProcess } from './service-process';
import { waitFor } from './wait-for';

/** Tokenizer, one inference worker and a router in front of it (static), each its own process. */
export interface Upstreams {
  readonly tokenizer: ServiceProcess;
  readonly worker: ServiceProcess;
  readonly router: ServiceProcess;
  /** In start order, for stopping. */
  readonly all: readonly ServiceProcess[];
}

/** What `startUpstreams` runs: the model and extra environment for every process or the worker only. */
export interface UpstreamOptions {
  /** Model directory served by the worker and the tokenizer. */
  readonly model: string;
  /** Added to every process's environment (e.g. OTEL_TRACES_EXPORTER, NATS_URL). */
  readonly env?: Record<string, string>;
  /** Added to the worker's (e.g. INFERENCE_STEP_DELAY_MS). */
  readonly worker?: Record<string, string>;
}

/** What `startMeshProcesses` runs: the upstreams', plus the gateway's own environment and whether feedback runs. */
export interface MeshProcessOptions extends UpstreamOptions {
  /** Added to the gateway's (e.g. GATEWAY_LOCAL_TOKENIZERS). */
  readonly gateway?: Record<string, string>;
  /** Start the feedback service (the gateway publishes completion events to it); default true. */
  readonly feedback?: boolean;
}

/** Every service as its own process, wired by `buildMesh`; `worker` is the inference process. */
export interface MeshProcesses {
  readonly tokenizer: ServiceProcess;
  readonly worker: ServiceProcess;
  readonly router: ServiceProcess;
  readonly gateway: ServiceProcess;
  readonly feedback?: ServiceProcess;
  /** In start order. */
  readonly all: readonly ServiceProcess[];
  /** Stops every process (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/**
 * Starts each service of a mesh as its own process on free ports, serving `model`. The gateway
 * resolves once /ready says 200 (the router's pool serves the model).
 */
export function processLauncher({ model, worker = {}, gateway = {} }: Omit<MeshProcessOptions, 'env' | 'feedback'>): MeshLauncher<ServiceProcess> {
  const start = async (name: MeshServiceName, env: Env): Promise<ServiceProcess> => {
    const e = definedOnly(env);
    switch (name) {
      case 'tokenizer':
        return startServiceProcess('tokenizer', { ...e, TOKENIZER_PORT: '0', TOKENIZER_HTTP_PORT: '0', TOKENIZER_MODELS: model });
      case 'inference':
        return startServiceProcess(
          'inference',
          { ...e, INFERENCE_PORT: '0', INFERENCE_HTTP_PORT: '0', INFERENCE_MODELS: model, INFERENCE_WORKER_ID: 'w1', ...worker },
          60_000,
        );
      case 'feedback':
        return startServiceProcess('feedback', { ...e, FEEDBACK_PORT: '0', FEEDBACK_HTTP_PORT: '0' });
      case 'router':
        return startServiceProcess('router', { ...e, ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0' });
      case 'gateway':
        return readyGateway({ GATEWAY_GRPC_PORT: '0', GATEWAY_HTTP_PORT: '0', GATEWAY_DEFAULT_MODEL: basename(model), ...e, ...gateway });
      case 'batch':
        return startServiceProcess('batch', { ...e, BATCH_PORT: '0', BATCH_HTTP_PORT: '0' });
    }
  };
  return { start, url: (p) => p.url, httpUrl: (p) => p.httpUrl, stop: (p) => p.stop(5000) };
}

/** Starts a mesh of processes (tokenizer, worker, feedback unless `feedback: false`, router, gateway); on failure, stops what started. */
export async function startMeshProcesses(opts: MeshProcessOptions): Promise<MeshProcesses> {
  const mesh = await buildMesh(processLauncher(opts), { env: opts.env, feedback: opts.feedback ?? true, concurrently: true });
  return {
    tokenizer: mesh.tokenizer,
    worker: mesh.inference,
    router: mesh.router,
    gateway: mesh.gateway!,
    ...(mesh.feedback ? { feedback: mesh.feedback } : {}),
    all: mesh.all,
    stop: () => mesh.stop(),
  };
}

/** Starts the gateway's upstreams on free ports; on failure, stops what started. */
export async function startUpstreams(opts: UpstreamOptions): Promise<Upstreams> {
  const mesh = await buildMesh(processLauncher(opts), { env: opts.env, feedback: false, gateway: false, concurrently: true });
  return { tokenizer: mesh.tokenizer, worker: mesh.inference, router: mesh.router, all: mesh.all };
}

/** A gateway process in front of `up` (default model: the upstreams' model), resolved once /ready says 200. */
export function startGateway(up: Upstreams, model: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  return processLauncher({ model, gateway: env }).start('gateway', gatewayEnv({}, { tokenizer: up.tokenizer.url, router: up.router.url }));
}

async function readyGateway(env: Record<string, string>): Promise<ServiceProcess> {
  const gateway = await startServiceProcess('gateway', env);
  try {
    await waitFor(async () => (await fetch(`${gateway.httpUrl}/ready`)).status === 200, { timeoutMs: 30_000, intervalMs: 100 });
  } catch (err) {
    await gateway.stop(5000);
    throw err;
  }
  return gateway;
}

function definedOnly(env: Env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** The worker's running requests (`tokenmesh_num_requests_running`, summed over models), from its /metrics. */
export async function runningRequests(worker: Pick<ServiceProcess, 'httpUrl'>): Promise<number> {
  const text = await (await fetch(`${worker.httpUrl}/metrics`)).text();
  return [...text.matchAll(/^tokenmesh_num_requests_running\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

/** The URLs of one service inside the supervisor's process. */
export interface MeshService {
  readonly url: string;
  readonly httpUrl: string;
}

/** `npm start`: the supervisor's one process, every service in it; `url`/`httpUrl` are the gateway's. */
export type SupervisorProcess = ServiceProcess & { readonly extra: Record<string, MeshService> };

/**
 * Starts the supervisor (`npm start`) with every port 0 unless `env` gives one, and resolves once
 * it logs `mesh started`; `extra` has each service's URLs.
 */
export function startSupervisor(env: Record<string, string> = {}, timeoutMs = 90_000): Promise<SupervisorProcess> {
  const ports: Record<string, string> = {};
  for (const s of ['TOKENIZER', 'INFERENCE', 'FEEDBACK', 'ROUTER', 'BATCH']) Object.assign(ports, { [`${s}_PORT`]: '0', [`${s}_HTTP_PORT`]: '0' });
  Object.assign(ports, { GATEWAY_GRPC_PORT: '0', GATEWAY_HTTP_PORT: '0' });
  return spawnUntil('supervisor', join('services', 'supervisor', 'src', 'main.ts'), { ...ports, ...env }, timeoutMs, (log) => {
    if (log['msg'] !== 'mesh started') return undefined;
    const services = log['services'] as Record<string, MeshService>;
    return { url: services['gateway']!.url, httpUrl: services['gateway']!.httpUrl, extra: services };
  });
}
