import { hostname } from 'node:os';
import { resolve } from 'node:path';

import { EnvReader } from '@tokenmesh/config';
import { DEFAULT_GRACE_MS } from '@tokenmesh/server';

import { DEFAULT_LIMITS, type EngineLimits } from './engine/engine-limits';
import { type ModelEntry, parseModelEntry } from './models/model-repo';

/**
 * The committed models: tinygpt's int8 version (tinygpt@int8), the default tinygpt (tinygpt@1)
 * and the Llama-family fixture. A bare name is the version listed last, so `tinygpt` stays the
 * fp32 model and int8 is asked for by version (or by a traffic split, deploy/router/traffic-int8-ab.yaml).
 */
export const DEFAULT_MODEL_DIRS = ['tinygpt-int8', 'tinygpt', 'tinyllama'].map((m) => resolve(__dirname, '../../../models', m));
/** The committed models/ directory: the repository run-time loads read from by default. */
export const DEFAULT_REPOSITORY = resolve(__dirname, '../../../models');
/** tinygpt's committed LoRA adapters: served with the default models (a chat model that answers), not with models of one's own. */
export const DEFAULT_ADAPTER_DIRS = ['tinygpt-chat', 'tinygpt-jargon'].map((m) => resolve(__dirname, '../../../models', m));

export interface InferenceConfig {
  readonly host: string;
  readonly port: number;
  /** HTTP/1.1 port for /metrics, /health and /ready. */
  readonly httpPort: number;
  /** Unique per worker: appears in responses, heartbeats and traces. */
  readonly workerId: string;
  readonly models: readonly ModelEntry[];
  /** PEFT LoRA adapter directories (INFERENCE_ADAPTERS), each served as a model by the base it names. */
  readonly adapters: readonly string[];
  /**
   * INFERENCE_ADMIN_TOKEN: operators' bearer token for run-time adapter loads and unloads
   * (AdapterService); unset: they are off.
   */
  readonly adminToken: string | undefined;
  /**
   * INFERENCE_MODEL_REPOSITORY: the directory of model versions LoadModel reads from (see
   * libs/model scanRepository for its layouts). Default: the committed models/.
   */
  readonly repository: string;
  /**
   * INFERENCE_REPOSITORY_POLL_MS: how often the repository is rescanned for new versions of the
   * models this worker serves (loaded, then served; versions whose directory is gone are unloaded
   * once no other version of theirs is lost). 0: off (explicit LoadModel / UnloadModel only).
   */
  readonly repositoryPollMs: number;
  /** onnxruntime intra-op threads per session. */
  readonly intraOpThreads: number;
  /** Worker threads (each an onnxruntime session and an engine) per model. */
  readonly workersPerModel: number;
  /** Tried in order, first that loads wins, e.g. cuda,cpu. */
  readonly executionProviders: readonly string[];
  /** Decode with a model's decode-step export (onnx/model_decode.onnx) when it has one. */
  readonly decodeExport: boolean;
  /** Admission limits of each model's engine. */
  readonly limits: EngineLimits;
  /** NATS for heartbeats; unset: no heartbeats unless a bus is passed to start(). */
  readonly natsUrl: string | undefined;
  /** Base URL routers dial, announced in heartbeats; unset: the server's own URL once listening. */
  readonly advertiseUrl: string | undefined;
  /** Relative capacity announced to routers for weighted balancing. */
  readonly weight: number;
  /** Period of the heartbeat. */
  readonly heartbeatMs: number;
  /**
   * Added to every batch step: emulates slower hardware in router benchmarks and tests (a
   * heterogeneous pool from identical workers). 0 in production.
   */
  readonly stepDelayMs: number;
  /** How long in-flight streams may run on after shutdown begins before they are cancelled. */
  readonly drainMs: number;
  /** Longest a stream's message may wait for more tokens under load (see streamHold); 0: never. */
  readonly streamHoldMaxMs: number;
}

const PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'];

/** Parses INFERENCE_* variables and NATS_URL once. @throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): InferenceConfig {
  const e = new EnvReader(env);
  const entries = e.list('INFERENCE_MODELS', DEFAULT_MODEL_DIRS);
  const models: ModelEntry[] = [];
  for (const entry of entries) {
    try {
      models.push(parseModelEntry(entry));
    } catch (err) {
      e.check(false, `INFERENCE_MODELS: ${(err as Error).message}`);
    }
  }
  const providers = e.list('INFERENCE_EXECUTION_PROVIDERS', ['cpu']);
  for (const p of providers)
    e.check(PROVIDERS.includes(p), `INFERENCE_EXECUTION_PROVIDERS must list some of ${PROVIDERS.join(', ')}, got ${JSON.stringify(p)}`);
  const config: InferenceConfig = {
    host: e.str('INFERENCE_HOST', '127.0.0.1'),
    port: e.int('INFERENCE_PORT', { default: 50054, min: 0, max: 65535 }),
    httpPort: e.int('INFERENCE_HTTP_PORT', { default: 9104, min: 0, max: 65535 }),
    workerId: e.str('INFERENCE_WORKER_ID', `${hostname()}-${process.pid}`),
    models,
    // `none`: no adapters, also with the default models.
    adapters: e
      .list('INFERENCE_ADAPTERS', env['INFERENCE_MODELS'] === undefined ? DEFAULT_ADAPTER_DIRS : [])
      .filter((d) => d !== 'none')
      .map((d) => resolve(d)),
    adminToken: e.optional('INFERENCE_ADMIN_TOKEN'),
    repository: resolve(e.str('INFERENCE_MODEL_REPOSITORY', DEFAULT_REPOSITORY)),
    repositoryPollMs: e.int('INFERENCE_REPOSITORY_POLL_MS', { default: 0, min: 0, max: 3_600_000 }),
    intraOpThreads: e.int('INFERENCE_INTRA_OP_THREADS', { default: 1, min: 1, max: 256 }),
    workersPerModel: e.int('INFERENCE_WORKERS_PER_MODEL', { default: 1, min: 1, max: 64 }),
    executionProviders: providers,
    decodeExport: e.bool('INFERENCE_DECODE_EXPORT', true),
    limits: {
      maxBatchSize: e.int('INFERENCE_MAX_BATCH_SIZE', { default: DEFAULT_LIMITS.maxBatchSize, min: 1, max: 1024 }),
      maxBatchPrefillTokens: e.int('INFERENCE_MAX_BATCH_PREFILL_TOKENS', { default: DEFAULT_LIMITS.maxBatchPrefillTokens, min: 1, max: 1 << 24 }),
      maxBatchTotalTokens: e.int('INFERENCE_MAX_BATCH_TOTAL_TOKENS', { default: DEFAULT_LIMITS.maxBatchTotalTokens, min: 1, max: 1 << 26 }),
      maxQueueSize: e.int('INFERENCE_MAX_QUEUE_SIZE', { default: DEFAULT_LIMITS.maxQueueSize, min: 0, max: 1 << 20 }),
      maxQueueTokens: e.int('INFERENCE_MAX_QUEUE_TOKENS', { default: DEFAULT_LIMITS.maxQueueTokens, min: 1, max: 1 << 30 }),
      maxQueueWaitMs: e.int('INFERENCE_MAX_QUEUE_WAIT_MS', { default: DEFAULT_LIMITS.maxQueueWaitMs, min: 1, max: 3_600_000 }),
      maxQueueDelayMs: e.int('INFERENCE_MAX_QUEUE_DELAY_MS', { default: DEFAULT_LIMITS.maxQueueDelayMs, min: 0, max: 10_000 }),
      yieldRows: e.int('INFERENCE_YIELD_ROWS', { default: DEFAULT_LIMITS.yieldRows, min: 0, max: 1024 }),
      yieldWindowMs: e.int('INFERENCE_YIELD_WINDOW_MS', { default: DEFAULT_LIMITS.yieldWindowMs, min: 0, max: 600_000 }),
    },
    natsUrl: e.url('NATS_URL', ['nats', 'tls']),
    advertiseUrl: e.url('INFERENCE_ADVERTISE_URL', ['http', 'https']),
    weight: e.int('INFERENCE_WEIGHT', { default: 1, min: 1, max: 1000 }),
    heartbeatMs: e.int('INFERENCE_HEARTBEAT_MS', { default: 1000, min: 100, max: 60_000 }),
    stepDelayMs: e.int('INFERENCE_STEP_DELAY_MS', { default: 0, min: 0, max: 10_000 }),
    drainMs: e.int('INFERENCE_DRAIN_MS', { default: DEFAULT_GRACE_MS, min: 0, max: 600_000 }),
    streamHoldMaxMs: e.int('INFERENCE_STREAM_HOLD_MAX_MS', { default: 40, min: 0, max: 1000 }),
  };
  const l = config.limits;
  e.check(
    l.maxBatchPrefillTokens <= l.maxBatchTotalTokens,
    `INFERENCE_MAX_BATCH_PREFILL_TOKENS (${l.maxBatchPrefillTokens}) must be <= INFERENCE_MAX_BATCH_TOTAL_TOKENS (${l.maxBatchTotalTokens})`,
  );
  e.check(models.length > 0, 'INFERENCE_MODELS must name at least one model');
  e.check(config.adminToken === undefined || config.adminToken.length >= 16, 'INFERENCE_ADMIN_TOKEN must be at least 16 characters');
  e.done();
  return config;
}
