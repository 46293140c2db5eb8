import type { RateLimitResult } from '@tokenmesh/store';

/** What a limit is counted in; names the `x-ratelimit-*-<kind>` headers, as OpenAI's. */
export type LimitKind = 'requests' | 'tokens';

/**
 * Metadata (gRPC trailers; REST copies them to headers) a rate-limit answer carries. The names
 * are OpenAI's, so existing client libraries read them.
 */
export const RATE_LIMIT_HEADERS = [
  'retry-after',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
] as const;

/**
 * A duration as OpenAI writes its reset headers (Go's time.Duration format): `120ms`, `1s`,
 * `6m0s`, `1h2m3.5s`.
 */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = (total % 60_000) / 1000;
  const seconds = `${Number(s.toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${seconds}`;
  return m > 0 ? `${m}m${seconds}` : seconds;
}

/** `x-ratelimit-{limit,remaining,reset}-<kind>` for one decision. */
export function limitHeaders(kind: LimitKind, limit: number, r: RateLimitResult): Record<string, string> {
  return {
    [`x-ratelimit-limit-${kind}`]: String(limit),
    [`x-ratelimit-remaining-${kind}`]: String(r.remaining),
    [`x-ratelimit-reset-${kind}`]: formatDuration(r.resetMs),
  };
}

/** Retry-After in whole seconds, rounded up and at least 1 (HTTP has no finer unit). */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
