import type { EnvReader } from '@tokenmesh/config';

import { DEFAULT_RATE_LIMIT_TIMEOUT_MS, type RateLimitSettings } from './store-rate-limiter';

/**
 * GATEWAY_RATE_LIMIT_RPM and GATEWAY_RATE_LIMIT_TPM (defaults per caller; 0 = unlimited, the
 * default), GATEWAY_RATE_LIMIT_FAILURE (open | closed, default open) and
 * GATEWAY_RATE_LIMIT_TIMEOUT_MS (default 50). Problems go to `e`, naming the variable.
 */
export function rateLimitConfig(e: EnvReader): RateLimitSettings {
  return {
    requestsPerMinute: e.int('GATEWAY_RATE_LIMIT_RPM', { default: 0, min: 0, max: 1e9 }),
    tokensPerMinute: e.int('GATEWAY_RATE_LIMIT_TPM', { default: 0, min: 0, max: 1e12 }),
    failure: e.oneOf('GATEWAY_RATE_LIMIT_FAILURE', ['open', 'closed'] as const, 'open'),
    timeoutMs: e.int('GATEWAY_RATE_LIMIT_TIMEOUT_MS', { default: DEFAULT_RATE_LIMIT_TIMEOUT_MS, min: 1, max: 10_000 }),
  };
}
