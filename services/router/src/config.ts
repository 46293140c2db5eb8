import { EnvReader } from '@tokenmesh/config';

import { isStrategy, STRATEGIES, type StrategyName } from './balancers';
import { loadTrafficConfig } from './traffic';

export interface RouterConfig {
  readonly host: string;
  readonly port: number;
  /** HTTP/1.1 port for /metrics, /health and /ready. */
  readonly httpPort: number;
  /** Static worker base URLs (http://host:port, HTTP/2 gRPC); discovery adds to them. */
  readonly workers: readonly string[];
  /** NATS for worker heartbeats; without it (and without a shared bus) only static workers. */
  readonly natsUrl: string | undefined;
  /** Balancing strategy of models the traffic config gives none. */
  readonly strategy: StrategyName;
  /** YAML traffic config (splits, canary, shadow, per-model strategy), reloaded on change. */
  readonly trafficConfigFile: string | undefined;
  readonly trafficConfigPollMs: number;
  /** The workers' heartbeat period; a worker silent for `missedHeartbeats` periods gets no new requests. */
  readonly heartbeatMs: number;
  readonly missedHeartbeats: number;
  /** Retries allowed as a fraction of requests (over 10 s). */
  readonly retryBudget: number;
  readonly ejectionFailures: number;
  readonly ejectionBaseMs: number;
  readonly maxEjectedPercent: number;
  readonly shadowMaxInFlight: number;
  /**
   * ROUTER_ADMIN_TOKEN: operators' bearer token for run-time traffic changes (TrafficService.SetTraffic);
   * unset: they are off. Model loads are checked by the workers (INFERENCE_ADMIN_TOKEN).
   */
  readonly adminToken: string | undefined;
  /**
   * ROUTER_FRAME_RELAY (default true): gRPC callers' Generate passes the workers' frames on
   * undecoded (relay/); false sends every call through Connect, decoded, e.g. to compare the two.
   */
  readonly frameRelay: boolean;
}

/** Parses ROUTER_* and NATS_URL once and validates the traffic config file. @throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): RouterConfig {
  const e = new EnvReader(env);
  const workers = e.urlList('ROUTER_WORKERS', [], ['http', 'https']);
  const natsUrl = e.url('NATS_URL', ['nats', 'tls']);
  const strategy = e.str('ROUTER_STRATEGY', 'p2c');
  e.check(isStrategy(strategy), `ROUTER_STRATEGY must be one of ${STRATEGIES.join(', ')}, got ${JSON.stringify(strategy)}`);
  const trafficConfigFile = e.optional('ROUTER_CONFIG_FILE');
  if (trafficConfigFile !== undefined) {
    try {
      loadTrafficConfig(trafficConfigFile);
    } catch (err) {
      e.check(false, `ROUTER_CONFIG_FILE: ${(err as Error).message}`);
    }
  }
  const config: RouterConfig = {
    host: e.str('ROUTER_HOST', '127.0.0.1'),
    port: e.int('ROUTER_PORT', { default: 50053, min: 0, max: 65535 }),
    httpPort: e.int('ROUTER_HTTP_PORT', { default: 9103, min: 0, max: 65535 }),
    workers,
    natsUrl,
    strategy: strategy as StrategyName,
    trafficConfigFile,
    trafficConfigPollMs: e.int('ROUTER_CONFIG_POLL_MS', { default: 1000, min: 10, max: 60_000 }),
    heartbeatMs: e.int('ROUTER_HEARTBEAT_MS', { default: 1000, min: 10, max: 60_000 }),
    missedHeartbeats: e.int('ROUTER_MISSED_HEARTBEATS', { default: 3, min: 1, max: 100 }),
    retryBudget: e.float('ROUTER_RETRY_BUDGET', { default: 0.2, min: 0, max: 1 }),
    ejectionFailures: e.int('ROUTER_EJECTION_FAILURES', { default: 5, min: 1, max: 1000 }),
    ejectionBaseMs: e.int('ROUTER_EJECTION_BASE_MS', { default: 30_000, min: 0, max: 3_600_000 }),
    maxEjectedPercent: e.int('ROUTER_MAX_EJECTED_PERCENT', { default: 50, min: 0, max: 100 }),
    shadowMaxInFlight: e.int('ROUTER_SHADOW_MAX_IN_FLIGHT', { default: 32, min: 0, max: 10_000 }),
    adminToken: e.optional('ROUTER_ADMIN_TOKEN'),
    frameRelay: e.bool('ROUTER_FRAME_RELAY', true),
  };
  e.check(config.adminToken === undefined || config.adminToken.length >= 16, 'ROUTER_ADMIN_TOKEN must be at least 16 characters');
  e.check(
    workers.length > 0 || natsUrl !== undefined,
    'set ROUTER_WORKERS (comma-separated worker URLs, e.g. http://127.0.0.1:50054) or NATS_URL (workers found by their heartbeats)',
  );
  e.done();
  return config;
}
