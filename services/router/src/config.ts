import { EnvReader } from '@tokenmesh/config';

export interface RouterConfig {
  readonly host: string;
  readonly port: number;
  /** HTTP/1.1 port for /metrics, /health and /ready. */
  readonly httpPort: number;
  /** Base URLs of inference workers (http://host:port, HTTP/2 gRPC). */
  readonly workers: readonly string[];
}

/** Parses ROUTER_* variables once. @throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): RouterConfig {
  const e = new EnvReader(env);
  const workers = e.urlList('ROUTER_WORKERS', [], ['http', 'https']);
  e.check(e.optional('ROUTER_WORKERS') !== undefined, 'ROUTER_WORKERS is required: comma-separated worker URLs, e.g. http://127.0.0.1:50054');
  const config = {
    host: e.str('ROUTER_HOST', '127.0.0.1'),
    port: e.int('ROUTER_PORT', { default: 50053, min: 0, max: 65535 }),
    httpPort: e.int('ROUTER_HTTP_PORT', { default: 9103, min: 0, max: 65535 }),
    workers,
  };
  e.done();
  return config;
}
