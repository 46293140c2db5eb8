import { EnvReader } from '@tokenmesh/config';

export interface BatchConfig {
  readonly host: string;
  /** gRPC port (health and reflection only: the batch lane's API is the gateway's /v1/batches). */
  readonly port: number;
  /** HTTP/1.1 port for /metrics, /health and /ready. */
  readonly httpPort: number;
  /** NATS with JetStream: the lines, results and files; an in-process bus when unset. */
  readonly natsUrl: string | undefined;
  /** The gateway's HTTP base URL: each line is the request a client would send it. */
  readonly gatewayUrl: string;
  /** The gateway's GATEWAY_BATCH_TOKEN: lines run as the batch's owner (needed where the gateway has API keys). */
  readonly gatewayToken: string | undefined;
  /** Lines this process runs at once. */
  readonly concurrency: number;
  /** Tries of a line that fails retryably (429, 5xx, no answer) before it goes to the error file. */
  readonly maxAttempts: number;
  /** The workers' queue priority of batch lines (interactive requests are 0; lower runs first). */
  readonly priority: number;
  /** A line's request is abandoned (and retried) after this long. */
  readonly requestTimeoutMs: number;
  /** The most lines of one batch: the gateway's GATEWAY_BATCH_MAX_LINES. */
  readonly maxLines: number;
  /** A line is given to another runner this long after its runner last said it is working (a killed runner's lines). */
  readonly lineAckWaitMs: number;
}

/** Parses BATCH_* and NATS_URL once. @throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): BatchConfig {
  const e = new EnvReader(env);
  const config = {
    host: e.str('BATCH_HOST', '127.0.0.1'),
    port: e.int('BATCH_PORT', { default: 50056, min: 0, max: 65535 }),
    httpPort: e.int('BATCH_HTTP_PORT', { default: 9106, min: 0, max: 65535 }),
    natsUrl: e.url('NATS_URL', ['nats', 'tls']),
    gatewayUrl: e.url('BATCH_GATEWAY_URL', ['http', 'https']) ?? 'http://127.0.0.1:8080',
    gatewayToken: e.optional('BATCH_GATEWAY_TOKEN'),
    concurrency: e.int('BATCH_CONCURRENCY', { default: 4, min: 1, max: 1024 }),
    maxAttempts: e.int('BATCH_MAX_ATTEMPTS', { default: 5, min: 1, max: 100 }),
    priority: e.int('BATCH_PRIORITY', { default: 10, min: 1, max: 1000 }),
    requestTimeoutMs: e.int('BATCH_REQUEST_TIMEOUT_MS', { default: 600_000, min: 1000, max: 86_400_000 }),
    maxLines: e.int('BATCH_MAX_LINES', { default: 50_000, min: 1, max: 1_000_000 }),
    lineAckWaitMs: e.int('BATCH_LINE_ACK_WAIT_MS', { default: 30_000, min: 1000, max: 3_600_000 }),
  };
  e.done();
  return config;
}
