import { basename, join } from 'node:path';
import { spawnUntil, startServiceProcess, type ServiceProcess } from './service-process';
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

/** Starts the gateway's upstreams on free ports; on failure, stops what started. */
export async function startUpstreams({ model, env = {}, worker = {} }: UpstreamOptions): Promise<Upstreams> {
  const started: ServiceProcess[] = [];
  const add = (p: ServiceProcess) => (started.push(p), p);
  try {
    const [tokenizer, inference] = await Promise.all([
      startServiceProcess('tokenizer', { ...env, TOKENIZER_PORT: '0', TOKENIZER_HTTP_PORT: '0', TOKENIZER_MODELS: model }).then(add),
      startServiceProcess('inference', { ...env, INFERENCE_PORT: '0', INFERENCE_HTTP_PORT: '0', INFERENCE_MODELS: model, INFERENCE_WORKER_ID: 'w1', ...worker }, 60_000).then(add),
    ]);
    const router = add(await startServiceProcess('router', { ...env, ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0', ROUTER_WORKERS: inference.url }));
    return { tokenizer, worker: inference, router, all: started };
  } catch (err) {
    await Promise.all(started.map((p) => p.stop(5000)));
    throw err;
  }
}

/** A gateway process in front of `up` (default model: the upstreams' model), resolved once /ready says 200. */
export async function startGateway(up: Upstreams, model: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const gateway = await startServiceProcess('gateway', {
    GATEWAY_GRPC_PORT: '0',
    GATEWAY_HTTP_PORT: '0',
    GATEWAY_TOKENIZER_URL: up.tokenizer.url,
    GATEWAY_ROUTER_URL: up.router.url,
    GATEWAY_DEFAULT_MODEL: basename(model),
    ...env,
  });
  try {
    await waitFor(async () => (await fetch(`${gateway.httpUrl}/ready`)).status === 200, { timeoutMs: 30_000, intervalMs: 100 });
  } catch (err) {
    await gateway.stop(5000);
    throw err;
  }
  return gateway;
}

/** The worker's running requests (`tokenmesh_num_requests_running`, summed over models), from its /metrics. */
export async function runningRequests(worker: ServiceProcess): Promise<number> {
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
  for (const s of ['TOKENIZER', 'INFERENCE', 'FEEDBACK', 'ROUTER']) Object.assign(ports, { [`${s}_PORT`]: '0', [`${s}_HTTP_PORT`]: '0' });
  Object.assign(ports, { GATEWAY_GRPC_PORT: '0', GATEWAY_HTTP_PORT: '0' });
  return spawnUntil('supervisor', join('services', 'supervisor', 'src', 'main.ts'), { ...ports, ...env }, timeoutMs, (log) => {
    if (log['msg'] !== 'mesh started') return undefined;
    const services = log['services'] as Record<string, MeshService>;
    return { url: services['gateway']!.url, httpUrl: services['gateway']!.httpUrl, extra: services };
  });
}
