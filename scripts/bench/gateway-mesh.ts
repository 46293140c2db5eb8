/**
 * The processes of the gateway benchmark: tokenizer, one inference worker, router (static, that
 * worker only) and gateway, each its own process as in production, on free ports. No NATS: the
 * gateway publishes completion events on its in-process bus, off the request path.
 */
import { basename } from 'node:path';
import { startServiceProcess, waitFor, type ServiceProcess } from '@tokenmesh/testing';
import { MODEL } from './router-setup';

/** The services of one mesh; `worker` is the inference process. */
export interface Mesh {
  readonly tokenizer: ServiceProcess;
  readonly worker: ServiceProcess;
  readonly router: ServiceProcess;
  readonly gateway: ServiceProcess;
  /** Stops every process (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** Traces off: no exporter on the request path of any process. */
const QUIET = { OTEL_TRACES_EXPORTER: 'none' };

/** Starts the four services; `stepDelayMs` slows the worker (INFERENCE_STEP_DELAY_MS) for cancellation runs. */
export async function startMesh(stepDelayMs = 0): Promise<Mesh> {
  const started: ServiceProcess[] = [];
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop(5000)));
  };
  try {
    const [tokenizer, worker] = await Promise.all([
      startServiceProcess('tokenizer', { ...QUIET, TOKENIZER_PORT: '0', TOKENIZER_HTTP_PORT: '0', TOKENIZER_MODELS: MODEL }),
      startServiceProcess(
        'inference',
        { ...QUIET, INFERENCE_PORT: '0', INFERENCE_HTTP_PORT: '0', INFERENCE_MODELS: MODEL, INFERENCE_WORKER_ID: 'w1', INFERENCE_INTRA_OP_THREADS: '1', INFERENCE_STEP_DELAY_MS: String(stepDelayMs) },
        60_000,
      ),
    ]);
    started.push(tokenizer!, worker!);
    const router = await startServiceProcess('router', { ...QUIET, ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0', ROUTER_WORKERS: worker!.url });
    started.push(router);
    const gateway = await startServiceProcess('gateway', {
      ...QUIET,
      GATEWAY_GRPC_PORT: '0',
      GATEWAY_HTTP_PORT: '0',
      GATEWAY_TOKENIZER_URL: tokenizer!.url,
      GATEWAY_ROUTER_URL: router.url,
      GATEWAY_DEFAULT_MODEL: basename(MODEL),
      // As `npm start` and the compose file run it: the model's tokenizer in the gateway.
      GATEWAY_LOCAL_TOKENIZERS: MODEL,
    });
    started.push(gateway);
    await waitFor(async () => (await fetch(`${gateway.httpUrl}/ready`)).status === 200, { timeoutMs: 30_000, intervalMs: 100 });
    return { tokenizer: tokenizer!, worker: worker!, router, gateway, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The worker's running requests (`tokenmesh_num_requests_running`, summed over models). */
export async function runningOn(worker: ServiceProcess): Promise<number> {
  const text = await (await fetch(`${worker.httpUrl}/metrics`)).text();
  return [...text.matchAll(/^tokenmesh_num_requests_running\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}
