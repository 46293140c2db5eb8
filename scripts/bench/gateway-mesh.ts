/**
 * The processes of the gateway benchmark: tokenizer, one inference worker, router (static, that
 * worker only) and gateway, each its own process as in production, on free ports, wired as every
 * mesh is (`startMeshProcesses`). No NATS and no feedback service: the gateway publishes
 * completion events on its in-process bus, off the request path.
 */
import { type MeshProcesses, startMeshProcesses } from '@tokenmesh/testing';

import { MODEL } from './router-setup';

/** The services of one benchmark mesh; `worker` is the inference process. */
export type Mesh = MeshProcesses;

/** Traces off: no exporter on the request path of any process. */
const QUIET = { OTEL_TRACES_EXPORTER: 'none' };

/** The benchmark's mesh; `stepDelayMs` slows the worker (INFERENCE_STEP_DELAY_MS) for cancellation runs. */
export function benchMesh(stepDelayMs = 0): Promise<Mesh> {
  return startMeshProcesses({
    model: MODEL,
    env: QUIET,
    worker: { INFERENCE_INTRA_OP_THREADS: '1', INFERENCE_STEP_DELAY_MS: String(stepDelayMs) },
    // As `npm start` and the compose file run it: the model's tokenizer in the gateway.
    gateway: { GATEWAY_LOCAL_TOKENIZERS: MODEL },
    feedback: false,
  });
}
