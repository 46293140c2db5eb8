import { EnvReader } from '@tokenmesh/config';

export interface FeedbackConfig {
  readonly host: string;
  readonly port: number;
  /** HTTP/1.1 port for /metrics, /health and /ready. */
  readonly httpPort: number;
  /** Redis for feedback records and totals; the in-memory store when unset. */
  readonly redisUrl: string | undefined;
  /** NATS for completion and feedback events; an in-process bus when unset. */
  readonly natsUrl: string | undefined;
  /** How often to check that the store still holds the report (else it is rebuilt from the stream). */
  readonly rebuildCheckMs: number;
  /** TTL of the store lock one rebuild holds (renewed while it runs): how long a crashed rebuild blocks the next. */
  readonly rebuildLockMs: number;
  /**
   * Journal of the feedback events' outbox (FEEDBACK_OUTBOX_DIR): events waiting for NATS survive a crash of the
   * process; memory only when unset. One process per directory.
   */
  readonly outboxDir: string | undefined;
}

/**
 * Parses FEEDBACK_* (FEEDBACK_REBUILD_CHECK_MS, FEEDBACK_REBUILD_LOCK_MS, FEEDBACK_OUTBOX_DIR among them), REDIS_URL and
 * NATS_URL once. @throws ConfigError naming every bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): FeedbackConfig {
  const e = new EnvReader(env);
  const config = {
    host: e.str('FEEDBACK_HOST', '127.0.0.1'),
    port: e.int('FEEDBACK_PORT', { default: 50055, min: 0, max: 65535 }),
    httpPort: e.int('FEEDBACK_HTTP_PORT', { default: 9105, min: 0, max: 65535 }),
    redisUrl: e.url('REDIS_URL', ['redis', 'rediss']),
    natsUrl: e.url('NATS_URL', ['nats', 'tls']),
    rebuildCheckMs: e.int('FEEDBACK_REBUILD_CHECK_MS', { default: 5000, min: 100, max: 3_600_000 }),
    rebuildLockMs: e.int('FEEDBACK_REBUILD_LOCK_MS', { default: 60_000, min: 1000, max: 3_600_000 }),
    outboxDir: e.optional('FEEDBACK_OUTBOX_DIR'),
  };
  e.done();
  return config;
}
