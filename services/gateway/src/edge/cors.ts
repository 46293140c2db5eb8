import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

/**
 * Request headers browsers may send: Connect's and gRPC-Web's (the lists of @connectrpc/cors,
 * not installed here: Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, Grpc-Timeout,
 * X-Grpc-Web, X-User-Agent), W3C trace context (OpenTelemetry web instrumentation adds traceparent,
 * tracestate and baggage to every fetch) and the gateway's own (API key, request id).
 */
export const CORS_ALLOWED_HEADERS = [
  'content-type',
  'connect-protocol-version',
  'connect-timeout-ms',
  'grpc-timeout',
  'x-grpc-web',
  'x-user-agent',
  'authorization',
  'x-api-key',
  'x-request-id',
  'traceparent',
  'tracestate',
  'baggage',
] as const;

/**
 * Prefix of the OpenAI JS SDK's telemetry headers (x-stainless-os, -lang, -package-version,
 * -runtime, -retry-count, -timeout, …). The set grows with SDK releases and
 * Access-Control-Allow-Headers has no prefix wildcard, so requested ones are echoed back.
 */
export const CORS_ALLOWED_HEADER_PREFIX = 'x-stainless-';

/**
 * The headers to allow for a preflight: the fixed list plus requested `x-stainless-*` ones. No
 * `Vary: Access-Control-Request-Headers` needed: OPTIONS answers are not stored by HTTP caches.
 */
function allowHeaders(requested: string | string[] | undefined): string {
  const extra = String(requested ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h.startsWith(CORS_ALLOWED_HEADER_PREFIX) && /^[a-z0-9-]+$/.test(h));
  return [...CORS_ALLOWED_HEADERS, ...new Set(extra)].join(', ');
}

/**
 * Response headers browser code may read: gRPC-Web's status trailers-in-headers (as
 * @connectrpc/cors) and the gateway's request id, cache, variant and rate-limit headers
 * (OpenAI's x-ratelimit-* names; Access-Control-Expose-Headers has no wildcard for a prefix).
 */
export const CORS_EXPOSED_HEADERS = [
  'grpc-status',
  'grpc-message',
  'grpc-status-details-bin',
  'x-request-id',
  'x-tokenmesh-cache',
  'x-tokenmesh-variant',
  'retry-after',
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
] as const;

/** Methods Connect (GET for idempotent calls), gRPC-Web and the REST API use. */
export const CORS_ALLOWED_METHODS = ['GET', 'POST'] as const;

/** How long browsers may cache a preflight answer. */
const MAX_AGE_S = 7200;

/**
 * Whether `origin` is an exact origin (`scheme://host[:port]`, no path, no wildcard, not `null`):
 * what GATEWAY_CORS_ORIGINS accepts.
 */
export function isExactOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === origin;
  } catch {
    return false;
  }
}

/**
 * CORS for an allowlist of exact origins, run before any routing (REST, Connect, gRPC-Web):
 * answers preflights (OPTIONS with Access-Control-Request-Method) itself with 204, and adds
 * Access-Control-Allow-Origin and -Expose-Headers to other responses, only ever echoing an origin
 * in the list (never `null`, never `*`). Every response carries `Vary: Origin`. Returns true when
 * it answered the request. Undefined for an empty list: no CORS headers at all.
 */
export function corsHandler(origins: readonly string[]): ((req: HttpRequest, res: HttpResponse) => boolean) | undefined {
  if (origins.length === 0) return undefined;
  const allowed = new Set(origins.filter(isExactOrigin));
  const exposed = CORS_EXPOSED_HEADERS.join(', ');
  return (req, res) => {
    const origin = req.headers.origin;
    const ok = typeof origin === 'string' && allowed.has(origin);
    const preflight = req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined;
    if (preflight) {
      res.writeHead(204, {
        vary: 'Origin',
        ...(ok
          ? {
              'access-control-allow-origin': origin,
              'access-control-allow-methods': CORS_ALLOWED_METHODS.join(', '),
              'access-control-allow-headers': allowHeaders(req.headers['access-control-request-headers']),
              'access-control-max-age': String(MAX_AGE_S),
            }
          : {}),
      });
      res.end();
      return true;
    }
    res.setHeader('vary', 'Origin');
    if (ok) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-expose-headers', exposed);
    }
    return false;
  };
}

/**
 * GATEWAY_CORS_ORIGINS: comma-separated exact origins; records a problem naming the variable for
 * anything else (`*`, `null`, a path, a trailing slash).
 */
export function corsOriginsConfig(e: { list(name: string, fallback: readonly string[]): string[]; check(ok: boolean, problem: string): void }): string[] {
  const origins = e.list('GATEWAY_CORS_ORIGINS', []);
  for (const o of origins)
    e.check(
      isExactOrigin(o),
      `GATEWAY_CORS_ORIGINS must list exact origins such as https://app.example.com (scheme://host[:port], no path, no wildcard), got ${JSON.stringify(o)}`,
    );
  return origins.filter(isExactOrigin);
}
