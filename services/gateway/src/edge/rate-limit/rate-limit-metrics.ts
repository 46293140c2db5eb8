import { type Counter, createCounter, type Registry } from '@tokenmesh/metrics';
import type { StoreFailure } from '@tokenmesh/store';

import type { LimitKind } from './rate-limit-headers';

/** The limiter's instruments, declared once per registry at start-up. */
export interface RateLimitMetrics {
  /** Requests refused, by the limit that refused them. */
  readonly limited: Counter<'kind'>;
  /** Store calls that failed or missed the deadline, by reason; each was decided by GATEWAY_RATE_LIMIT_FAILURE. */
  readonly storeErrors: Counter<'reason'>;
}

/** `tokenmesh_gateway_rate_limited_total{kind}` and `tokenmesh_gateway_rate_limit_store_errors_total{reason}`. */
export function rateLimitMetrics(registry: Registry): RateLimitMetrics {
  const limited = createCounter<'kind'>(registry, {
    name: 'gateway_rate_limited_total',
    help: 'Requests refused by the rate limiter, by limit (requests, tokens)',
    labelNames: ['kind'],
  });
  const storeErrors = createCounter<'reason'>(registry, {
    name: 'gateway_rate_limit_store_errors_total',
    help: 'Rate-limit store calls that failed (error) or did not answer in time (timeout); decided by GATEWAY_RATE_LIMIT_FAILURE',
    labelNames: ['reason'],
  });
  for (const kind of ['requests', 'tokens'] satisfies LimitKind[]) limited.inc({ kind }, 0);
  for (const reason of ['timeout', 'error'] satisfies StoreFailure[]) storeErrors.inc({ reason }, 0);
  return { limited, storeErrors };
}
