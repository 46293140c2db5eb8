import type { TextEvent } from '../pipeline/generate-text';

/**
 * Who is calling, as the edge's authentication decided (API key or, without keys configured,
 * anonymous by client address). Never holds the key itself.
 */
export interface Caller {
  /** The key's configured name, or 'anonymous'. Safe to log and put in events. */
  readonly keyName: string;
  /** Rate-limit identity: `key:<name>` or `ip:<address>`. */
  readonly subject: string;
  /** Model names (or name@version) this key may use; undefined = any. */
  readonly allowedModels?: readonly string[];
  /** Per-key limits; undefined fields fall back to the gateway's defaults. */
  readonly limits?: { readonly requestsPerMinute?: number; readonly tokensPerMinute?: number };
}

/** A caller before authentication: anonymous, limited by address. */
export const anonymous = (ip: string): Caller => ({ keyName: 'anonymous', subject: `ip:${ip}` });

/**
 * Rate limits shared by every gateway replica. `admit*` throw a ConnectError RESOURCE_EXHAUSTED
 * carrying `retry-after` and `x-ratelimit-*` metadata; `charge` records tokens as they stream.
 */
export interface RateLimiter {
  /** One request arriving (requests per minute); resolves with the `x-ratelimit-*` headers to send. */
  admitRequest(caller: Caller): Promise<RateLimitHeaders | void>;
  /** The prompt's tokens, counted before the worker is called (tokens per minute); resolves as admitRequest. */
  admitTokens(caller: Caller, promptTokens: number): Promise<RateLimitHeaders | void>;
  /** Generated tokens, charged as they stream; never throws, never delays the stream. */
  charge(caller: Caller, tokens: number): void;
}

/** OpenAI's `x-ratelimit-*` response headers, name → value. */
export type RateLimitHeaders = Readonly<Record<string, string>>;

/** What identifies a deterministic generation (same parts, same output), or with an idempotency key, one request's tries. */
export interface CacheKeyParts {
  /** The model as requested (a name may be resolved to name@version by the cache). */
  readonly model: string;
  readonly routingKey: string;
  readonly promptTokenIds: readonly number[];
  /** Validated sampling parameters, including stop strings and max tokens. */
  readonly sampling: Readonly<Record<string, unknown>>;
  /** The caller's key name and Idempotency-Key: only for the idempotent-request store. */
  readonly idempotencyKey?: string;
}

/**
 * Response cache with single-flight: identical concurrent requests share one generation. Called
 * for deterministic requests (temperature 0 or an explicit seed), and as the idempotent-request
 * store for requests with an Idempotency-Key. `through` yields the
 * cached events of a hit (the caller streams them as if generated) or the generated ones, and
 * reports which through `onOutcome`. `generate` takes the signal that cancels the generation: the
 * cache passes its own, so that a shared generation outlives the client that started it while
 * others still listen; `signal` is this request's.
 */
export interface ResponseCache {
  through(
    key: CacheKeyParts,
    generate: (signal: AbortSignal) => AsyncIterable<TextEvent>,
    onOutcome: (outcome: 'hit' | 'miss') => void,
    signal: AbortSignal,
  ): AsyncIterable<TextEvent>;
}
