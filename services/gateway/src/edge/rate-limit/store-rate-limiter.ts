import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '@tokenmesh/logging';
import type { Registry } from '@tokenmesh/metrics';
import { type CircuitBreakerOptions, type GuardFailure, type RateLimitOptions, type RateLimitResult, type Store, StoreGuard } from '@tokenmesh/store';

import type { Caller, RateLimiter, RateLimitHeaders } from '../edge-policy';
import { limitHeaders, type LimitKind, retryAfterSeconds } from './rate-limit-headers';
import { type RateLimitMetrics, rateLimitMetrics } from './rate-limit-metrics';

/** What to do when the store cannot answer in time: allow the request, or refuse it (503). */
export type RateLimitFailureMode = 'open' | 'closed';

/** The gateway's rate-limit settings (GATEWAY_RATE_LIMIT_*). */
export interface RateLimitSettings {
  /** Default requests per minute per caller; 0 = unlimited. A key's own limit overrides it. */
  readonly requestsPerMinute: number;
  /** Default tokens (prompt + generated) per minute per caller; 0 = unlimited. */
  readonly tokensPerMinute: number;
  readonly failure: RateLimitFailureMode;
  /** How long a decision may wait for the store before `failure` decides it. */
  readonly timeoutMs: number;
}

export interface StoreRateLimiterOptions extends RateLimitSettings {
  /** Shared by every replica (Redis) or this process alone (memory). */
  readonly store: Store;
  readonly metrics: Registry;
  readonly logger?: Logger;
  /** Skip store calls for a cool-down after consecutive failures (GATEWAY_STORE_BREAKER_*); absent: every decision waits out `timeoutMs`. */
  readonly breaker?: CircuitBreakerOptions;
  /** The window limits are counted over; one minute except in tests. */
  readonly periodMs?: number;
}

/** The default decision deadline: the edge's whole budget for asking Redis. */
export const DEFAULT_RATE_LIMIT_TIMEOUT_MS = 50;

/** What one store call came to: a decision, or a failure that the failure mode decides. */
type Outcome = { readonly kind: LimitKind; readonly limit: number; readonly result?: RateLimitResult; readonly failure?: GuardFailure };

/**
 * Requests and tokens per minute per caller (`Caller.subject`), as GCRA buckets in the store
 * (`Store.rateLimit`): `ratelimit:requests:<subject>` and `ratelimit:tokens:<subject>`.
 *
 * - `admitRequest` takes one request and, when a token limit applies, checks (cost 0) that the
 *   token bucket is not in debt, so a caller whose last stream overdrew is refused before the
 *   prompt is even tokenized.
 * - `admitTokens` takes the prompt's tokens; a prompt larger than the whole budget is refused
 *   for good (no retry-after).
 * - `charge` forces generated tokens into the bucket (debt allowed). Charges for one caller are
 *   coalesced: while one is in flight the next ones add up, so a stream costs at most one store
 *   call in flight per caller, whatever its token rate.
 *
 * Every store call gets `timeoutMs` (default 50 ms); an error or a timeout counts in
 * `tokenmesh_gateway_rate_limit_store_errors_total{reason}` and is decided by `failure`: `open`
 * allows the request, `closed` refuses it with UNAVAILABLE (REST 503) rather than
 * RESOURCE_EXHAUSTED, because the caller is not over any limit and should not back off as if it
 * were. With a `breaker`, once the store has failed a few times in a row decisions stop asking it
 * (and waiting) for a cool-down: `failure` decides them at once (`tokenmesh_store_circuit_open{dependency="rate_limit"}`).
 */
export class StoreRateLimiter implements RateLimiter {
  private readonly metrics: RateLimitMetrics;
  private readonly periodMs: number;
  /** Generated tokens waiting to be charged, per bucket key, while a charge is in flight. */
  private readonly charges = new Map<string, { tokens: number; limit: number }>();
  /** The drains in flight (one per key in `charges`), for `settled`. */
  private readonly draining = new Set<Promise<void>>();
  /** Every store call: the deadline, the error counter, and one log line per outage and one on recovery. */
  private readonly guard: StoreGuard;

  constructor(private readonly opts: StoreRateLimiterOptions) {
    this.metrics = rateLimitMetrics(opts.metrics);
    this.periodMs = opts.periodMs ?? 60_000;
    this.guard = new StoreGuard({
      name: 'rate-limit store',
      timeoutMs: opts.timeoutMs,
      ...(opts.breaker ? { breaker: opts.breaker } : {}),
      metrics: { registry: opts.metrics, dependency: 'rate_limit' },
      onFailure: (reason) => this.metrics.storeErrors.inc({ reason }),
      onOutage: (reason, err, failures) =>
        opts.logger?.warn('rate-limit store failing; requests are decided by GATEWAY_RATE_LIMIT_FAILURE', {
          reason,
          failures,
          failure_mode: opts.failure,
          timeout_ms: opts.timeoutMs,
          ...(opts.breaker?.failures ? { cooldown_ms: opts.breaker.cooldownMs } : {}),
          error: reason === 'error' ? err.message : undefined,
        }),
      onRecovery: () => opts.logger?.info('rate-limit store answering again'),
    });
  }

  async admitRequest(caller: Caller): Promise<RateLimitHeaders | void> {
    const { rpm, tpm } = this.limits(caller);
    if (rpm <= 0 && tpm <= 0) return;
    const outcomes = await Promise.all([
      rpm > 0 ? this.call(caller, 'requests', rpm, 1) : undefined,
      tpm > 0 ? this.call(caller, 'tokens', tpm, 0) : undefined,
    ]);
    return this.decide(caller, outcomes);
  }

  async admitTokens(caller: Caller, promptTokens: number): Promise<RateLimitHeaders | void> {
    const { tpm } = this.limits(caller);
    if (tpm <= 0) return;
    if (promptTokens > tpm) {
      this.metrics.limited.inc({ kind: 'tokens' });
      throw new ConnectError(`request too large: the prompt has ${promptTokens} tokens, the limit is ${tpm} tokens per minute`, Code.ResourceExhausted, {
        'x-ratelimit-limit-tokens': String(tpm),
      });
    }
    return this.decide(caller, [await this.call(caller, 'tokens', tpm, promptTokens)]);
  }

  charge(caller: Caller, tokens: number): void {
    const { tpm } = this.limits(caller);
    if (tpm <= 0 || !(tokens > 0)) return;
    const key = this.key('tokens', caller);
    const queued = this.charges.get(key);
    if (queued) {
      queued.tokens += tokens;
      queued.limit = tpm;
      return;
    }
    const entry = { tokens, limit: tpm };
    this.charges.set(key, entry);
    const drain = this.drain(caller, key, entry).finally(() => this.draining.delete(drain));
    this.draining.add(drain);
  }

  /** Resolves once every charge made so far has reached the store (or failed); for tests and shutdown. */
  async settled(): Promise<void> {
    while (this.draining.size > 0) await Promise.all(this.draining);
  }

  private async drain(caller: Caller, key: string, entry: { tokens: number; limit: number }): Promise<void> {
    try {
      while (entry.tokens > 0) {
        const cost = entry.tokens;
        entry.tokens = 0;
        await this.call(caller, 'tokens', entry.limit, cost, true);
      }
    } finally {
      this.charges.delete(key);
    }
  }

  private limits(caller: Caller): { rpm: number; tpm: number } {
    return {
      rpm: caller.limits?.requestsPerMinute ?? this.opts.requestsPerMinute,
      tpm: caller.limits?.tokensPerMinute ?? this.opts.tokensPerMinute,
    };
  }

  private key(kind: LimitKind, caller: Caller): string {
    return `ratelimit:${kind}:${caller.subject}`;
  }

  /** One store call under the deadline; a failure comes back as an outcome without a result. */
  private async call(caller: Caller, kind: LimitKind, limit: number, cost: number, force = false): Promise<Outcome> {
    const request: RateLimitOptions = { limit, periodMs: this.periodMs, cost, force };
    const r = await this.guard.attempt(() => this.opts.store.rateLimit(this.key(kind, caller), request));
    return r.ok ? { kind, limit, result: r.value } : { kind, limit, failure: r.failure };
  }

  /**
   * The `x-ratelimit-*` headers of the outcomes the store answered. Throws when any outcome
   * refused (RESOURCE_EXHAUSTED) or, failing closed, failed (UNAVAILABLE).
   */
  private decide(caller: Caller, outcomes: readonly (Outcome | undefined)[]): RateLimitHeaders {
    const known = outcomes.filter((o): o is Outcome => o !== undefined);
    const failed = known.filter((o) => !o.result);
    if (failed.length > 0 && this.opts.failure === 'closed') {
      const why = failed.some((o) => o.failure === 'timeout')
        ? `did not answer within ${this.opts.timeoutMs} ms`
        : failed.some((o) => o.failure === 'error')
          ? 'failed'
          : 'has failed repeatedly and is not asked during a cool-down';
      throw new ConnectError(
        `rate limiter unavailable: its store ${why}, and GATEWAY_RATE_LIMIT_FAILURE=closed refuses requests until it answers`,
        Code.Unavailable,
        { 'retry-after': '1' },
      );
    }
    const metadata: Record<string, string> = {};
    for (const o of known) if (o.result) Object.assign(metadata, limitHeaders(o.kind, o.limit, o.result));
    const refused = known.filter((o) => o.result && !o.result.allowed);
    if (refused.length === 0) return metadata;
    const wait = Math.max(...refused.map((o) => o.result!.retryAfterMs));
    metadata['retry-after'] = retryAfterSeconds(wait);
    for (const o of refused) this.metrics.limited.inc({ kind: o.kind });
    const what = refused.map((o) => `${o.limit} ${o.kind} per minute`).join(' and ');
    throw new ConnectError(
      `rate limit reached for ${caller.keyName === 'anonymous' ? 'this address' : `key ${caller.keyName}`}: ${what}; retry after ${metadata['retry-after']} s`,
      Code.ResourceExhausted,
      metadata,
    );
  }
}
