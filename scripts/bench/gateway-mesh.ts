/**
 * The processes of the gateway benchmark: tokenizer, one inference worker, router (static, that
 * worker only) and gateway, each its own process as in production, on free ports. No NATS: the
 * gateway publishes completion events on its in-process bus, off the request path.
 */
import { startGateway, startUpstreams, type ServiceProcess } from '@tokenmesh/testing';
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
  const up = await startUpstreams({ model: MODEL, env: QUIET, worker: { INFERENCE_INTRA_OP_THREADS: '1', INFERENCE_STEP_DELAY_MS: String(stepDelayMs) } });
  const stop = async (extra: ServiceProcess[] = []) => {
    await Promise.all([...up.all, ...extra].map((p) => p.stop(5000)));
  };
  try {
    // As `npm start` and the compose file run it: the model's tokenizer in the gateway.
    const gateway = await startGateway(up, MODEL, { ...QUIET, GATEWAY_LOCAL_TOKENIZERS: MODEL });
    return { tokenizer: up.tokenizer, worker: up.worker, router: up.router, gateway, stop: () => stop([gateway]) };
  } catch (err) {
    await stop();
    throw err;
  }
}
