import { resolve } from 'node:path';

import { EnvReader } from '@tokenmesh/config';
import { type CircuitBreakerOptions, DEFAULT_CIRCUIT_BREAKER } from '@tokenmesh/store';

import { type CacheConfig, cacheConfig } from './cache/cache-config';
import { type ApiKeysConfig, apiKeysConfig } from './edge/auth/auth-config';
import { corsOriginsConfig } from './edge/cors';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './edge/deadline';
import { rateLimitConfig } from './edge/rate-limit/rate-limit-config';
import type { RateLimitSettings } from './edge/rate-limit/store-rate-limiter';

export interface GatewayConfig {
  readonly host: string;
  /** HTTP/2: gRPC, Connect and gRPC-Web. */
  readonly grpcPort: number;
  /** HTTP/1.1: REST, Connect and gRPC-Web for browsers and curl. */
  readonly httpPort: number;
  readonly tokenizerUrl: string;
  readonly routerUrl: string;
  readonly feedbackUrl: string;
  /** Model used when a request names none. */
  readonly defaultModel: string;
  readonly bodyLimitBytes: number;
  /** The largest file /v1/files takes (a batch input file). */
  readonly fileLimitBytes: number;
  /** The most requests one batch input file may hold (OpenAI's limit: 50 000). */
  readonly maxBatchLines: number;
  /** The batch service's credential (its BATCH_GATEWAY_TOKEN): its lines run as their batch's owner. Needed for batches when API keys are on. */
  readonly batchToken: string | undefined;
  /** Model directories whose tokenizers run in the gateway (no tokenizer hop); others go to the service. */
  readonly localTokenizers: readonly string[];
  /** API keys: none (anonymous callers, development), a file or Redis. */
  readonly apiKeys: ApiKeysConfig;
  /** Exact origins browsers may call from; empty = no CORS headers. */
  readonly corsOrigins: readonly string[];
  /** Whole-request limit (REST 504 `timeout`, gRPC DEADLINE_EXCEEDED; a shorter caller deadline wins); 0 = none. */
  readonly requestTimeoutMs: number;
  /** HTTP/1.1: time to receive a request's headers (Node's headersTimeout; 408 after it). */
  readonly headersTimeoutMs: number;
  /** NATS for completion events; an in-process bus when unset. */
  readonly natsUrl: string | undefined;
  /** Redis for rate limits shared by every replica (REDIS_URL); this process's memory when unset. */
  readonly redisUrl: string | undefined;
  /**
   * Journal of the completion events' outbox (GATEWAY_OUTBOX_DIR): events waiting for NATS survive a crash of the
   * process; memory only when unset. One process per directory.
   */
  readonly outboxDir: string | undefined;
  /** Requests and tokens per minute per caller (GATEWAY_RATE_LIMIT_*). */
  readonly rateLimit: RateLimitSettings;
  /** Response cache for deterministic requests (GATEWAY_CACHE, GATEWAY_CACHE_TTL_S, GATEWAY_CACHE_LOCK_MS), in the REDIS_URL store. */
  readonly cache: CacheConfig;
  /**
   * Per store dependency (rate limiter, response cache): after `failures` consecutive failures
   * (GATEWAY_STORE_BREAKER_FAILURES, default 3; 0 = off) its calls are skipped for a cool-down
   * (GATEWAY_STORE_BREAKER_COOLDOWN_MS, default 1000, doubling to 30 s while probes fail).
   */
  readonly storeBreaker: CircuitBreakerOptions;
  /** After the router answers RESOURCE_EXHAUSTED for a model, its requests are refused at once for this long (GATEWAY_SHED_WINDOW_MS; 0 = off). */
  readonly shedWindowMs: number;
  /** Refuse at once what is past the capacity the router reports for a model (GATEWAY_EDGE_ADMISSION, default true). */
  readonly edgeAdmission: boolean;
  /**
   * GATEWAY_FRAMED_ROUTER_CALLS (default true): the router's Generate stream is read straight off
   * the HTTP/2 connection, one decode per message, past connect-es's client pipeline.
   */
  readonly framedRouterCalls: boolean;
  /**
   * GATEWAY_FRAMED_STREAM_PREDICT (default true): gRPC callers' StreamPredict is served past
   * Connect (libs/server's grpcStreamHandler), one encode per chunk.
   */
  readonly framedStreamPredict: boolean;
  /** The playground page at /playground (GATEWAY_PLAYGROUND, default true). */
  readonly playground: boolean;
  /** Jaeger's UI (GATEWAY_JAEGER_URL): the playground links each trace id to it; none = plain ids. */
  readonly jaegerUrl: string | undefined;
}

/** Parses GATEWAY_* variables once. @throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const e = new EnvReader(env);
  const url = (name: string, fallback: string) => e.url(name, ['http', 'https']) ?? fallback;
  const config = {
    host: e.str('GATEWAY_HOST', '127.0.0.1'),
    grpcPort: e.int('GATEWAY_GRPC_PORT', { default: 50051, min: 0, max: 65535 }),
    httpPort: e.int('GATEWAY_HTTP_PORT', { default: 8080, min: 0, max: 65535 }),
    tokenizerUrl: url('GATEWAY_TOKENIZER_URL', 'http://127.0.0.1:50052'),
    routerUrl: url('GATEWAY_ROUTER_URL', 'http://127.0.0.1:50053'),
    feedbackUrl: url('GATEWAY_FEEDBACK_URL', 'http://127.0.0.1:50055'),
    defaultModel: e.str('GATEWAY_DEFAULT_MODEL', 'tinygpt'),
    bodyLimitBytes: e.int('GATEWAY_BODY_LIMIT_BYTES', { default: 1 << 20, min: 1024, max: 64 << 20 }),
    fileLimitBytes: e.int('GATEWAY_FILE_LIMIT_BYTES', { default: 100 << 20, min: 1024, max: 512 << 20 }),
    maxBatchLines: e.int('GATEWAY_BATCH_MAX_LINES', { default: 50_000, min: 1, max: 1_000_000 }),
    batchToken: e.optional('GATEWAY_BATCH_TOKEN'),
    localTokenizers: e.list('GATEWAY_LOCAL_TOKENIZERS', []).map((d) => resolve(d)),
    apiKeys: apiKeysConfig(e),
    corsOrigins: corsOriginsConfig(e),
    requestTimeoutMs: e.int('GATEWAY_REQUEST_TIMEOUT_MS', { default: DEFAULT_REQUEST_TIMEOUT_MS, min: 0, max: 3_600_000 }),
    headersTimeoutMs: e.int('GATEWAY_HEADERS_TIMEOUT_MS', { default: 10_000, min: 100, max: 600_000 }),
    natsUrl: e.url('NATS_URL', ['nats', 'tls']),
    redisUrl: e.url('REDIS_URL', ['redis', 'rediss']),
    outboxDir: e.optional('GATEWAY_OUTBOX_DIR'),
    rateLimit: rateLimitConfig(e),
    cache: cacheConfig(e),
    storeBreaker: {
      failures: e.int('GATEWAY_STORE_BREAKER_FAILURES', { default: DEFAULT_CIRCUIT_BREAKER.failures, min: 0, max: 1000 }),
      cooldownMs: e.int('GATEWAY_STORE_BREAKER_COOLDOWN_MS', { default: DEFAULT_CIRCUIT_BREAKER.cooldownMs, min: 10, max: 30_000 }),
      maxCooldownMs: DEFAULT_CIRCUIT_BREAKER.maxCooldownMs,
    },
    shedWindowMs: e.int('GATEWAY_SHED_WINDOW_MS', { default: 100, min: 0, max: 10_000 }),
    edgeAdmission: e.bool('GATEWAY_EDGE_ADMISSION', true),
    framedRouterCalls: e.bool('GATEWAY_FRAMED_ROUTER_CALLS', true),
    framedStreamPredict: e.bool('GATEWAY_FRAMED_STREAM_PREDICT', true),
    playground: e.bool('GATEWAY_PLAYGROUND', true),
    jaegerUrl: e.url('GATEWAY_JAEGER_URL', ['http', 'https']),
  };
  e.check(
    config.requestTimeoutMs === 0 || config.headersTimeoutMs <= config.requestTimeoutMs,
    `GATEWAY_HEADERS_TIMEOUT_MS (${config.headersTimeoutMs}) must be <= GATEWAY_REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`,
  );
  e.check(config.grpcPort === 0 || config.grpcPort !== config.httpPort, `GATEWAY_GRPC_PORT and GATEWAY_HTTP_PORT must differ, both are ${config.grpcPort}`);
  e.done();
  return config;
}
