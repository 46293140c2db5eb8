import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Logger } from '@tokenmesh/logging';
import type { Registry } from '@tokenmesh/metrics';
import { FinishReason } from '@tokenmesh/proto';
import { type CircuitBreakerOptions, type Store, StoreGuard } from '@tokenmesh/store';

import type { CacheKeyParts, ResponseCache } from '../edge/edge-policy';
import type { TextEvent } from '../pipeline/generate-text';
import { CacheEntries } from './cache-entries';
import { cacheKey } from './cache-key';
import { CacheMetrics } from './cache-metrics';
import { Flight, type FlightSource } from './flight';
import { resolveModel, type ServedModelInfo } from './served-versions';

export interface StoreResponseCacheOptions {
  /** Shared by the replicas: Redis in production, in-memory in the embedded default. */
  readonly store: Store;
  /** How long an entry lives. */
  readonly ttlMs: number;
  /** The models the router serves, at most a second old (the gateway's ServedModelCatalog); asked for every bare model name. */
  readonly servedModels: () => Promise<readonly ServedModelInfo[]>;
  readonly metrics?: Registry;
  /**
   * Cross-replica single flight: the lock one replica holds (renewed every half of it) while it
   * generates, so that the others wait for its entry. 0 = off (single flight within the process
   * only). Default 10 000.
   */
  readonly lockTtlMs?: number;
  /** How often a replica waiting on another's lock looks for the entry; default 50 ms. */
  readonly pollMs?: number;
  /** A store call that takes longer counts as failed; default 250 ms. */
  readonly storeTimeoutMs?: number;
  /**
   * Skip store calls for a cool-down after consecutive failures (GATEWAY_STORE_BREAKER_*), so an
   * outage costs requests no store time; absent: every call waits out `storeTimeoutMs`.
   */
  readonly breaker?: CircuitBreakerOptions;
  /**
   * Set for the idempotent-request store rather than the response cache: keys carry the
   * caller's Idempotency-Key, and a generation goes on for up to `outlivesCallersMs` after its
   * callers left, so the caller's next try (a batch runner restarted after a crash) is answered
   * by it instead of generating again. Its metrics: `gateway_idempotent_requests_total`.
   */
  readonly idempotency?: { readonly outlivesCallersMs: number };
  /** Store and router failures: the cache fails open (the request is generated as if uncached). */
  readonly onError?: (err: unknown) => void;
  /** Told once when the store starts failing and once when it answers again. */
  readonly logger?: Logger;
}

/** Finish reasons of complete, successful generations: only those are stored. */
const STORABLE = new Set([FinishReason.LENGTH, FinishReason.EOS, FinishReason.STOP]);

/** `p`, or a rejection with the signal's reason as soon as it aborts. */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The gateway's response cache over a `Store`, with single flight.
 *
 * In the process, the first request for a key leads a {@link Flight}; identical requests that
 * arrive while it runs follow it: they tail its events live (a streamed follower still streams)
 * or replay them if it has ended. The generation runs under the flight's signal: a follower or the
 * leader going away does not stop it while anyone still listens; when nobody does, it is cancelled
 * and nothing is stored.
 *
 * Across replicas, the leader first takes a short lock in the store (`setIfAbsent`); a replica
 * that finds it taken polls for the entry and replays it, or generates itself if the lock goes
 * away without an entry (that replica failed or was abandoned).
 *
 * A hit's final event is the stored one (text, usage, finish reason, model, variant, worker
 * timings) with `timings.totalMs` of this request, measured from when it reached the cache.
 */
export class StoreResponseCache implements ResponseCache {
  private readonly flights = new Map<string, Flight>();
  private readonly entries: CacheEntries;
  private readonly metrics: CacheMetrics | undefined;
  private readonly lockTtlMs: number;
  private readonly pollMs: number;
  /** Every store call: it fails open (an error, or no answer within `storeTimeoutMs`, and the caller's fallback is used). */
  private readonly guard: StoreGuard;
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  private readonly onError: (err: unknown) => void;
  private readonly servedModels: () => Promise<readonly ServedModelInfo[]>;
  private readonly outlivesCallersMs: number;

  constructor(opts: StoreResponseCacheOptions) {
    this.entries = new CacheEntries(opts.store, opts.ttlMs);
    this.metrics = opts.metrics && new CacheMetrics(opts.metrics, opts.idempotency ? 'idempotency' : 'cache');
    this.outlivesCallersMs = opts.idempotency?.outlivesCallersMs ?? 0;
    this.lockTtlMs = opts.lockTtlMs ?? 10_000;
    this.pollMs = opts.pollMs ?? 50;
    this.onError = opts.onError ?? (() => undefined);
    this.servedModels = opts.servedModels;
    this.guard = new StoreGuard({
      name: opts.idempotency ? 'idempotent requests' : 'response cache',
      timeoutMs: opts.storeTimeoutMs ?? 250,
      failure: 'open',
      ...(opts.breaker ? { breaker: opts.breaker } : {}),
      ...(opts.metrics ? { metrics: { registry: opts.metrics, dependency: opts.idempotency ? 'idempotency' : 'response_cache' } } : {}),
      onFailure: (_, err) => this.onError(err),
      onOutage: (_, err, failures) => opts.logger?.warn('response cache unavailable; requests are generated uncached', { error: err.message, failures }),
      onRecovery: () => opts.logger?.info('response cache answering again'),
    });
  }

  /** Flights in progress (tests and diagnostics). */
  get inFlight(): number {
    return this.flights.size;
  }

  async *through(
    parts: CacheKeyParts,
    generate: (signal: AbortSignal) => AsyncIterable<TextEvent>,
    onOutcome: (outcome: 'hit' | 'miss') => void,
    signal: AbortSignal,
  ): AsyncGenerator<TextEvent> {
    const started = performance.now();
    const tell = (o: FlightSource) => {
      this.metrics?.outcome(o);
      onOutcome(o);
    };
    const hash = await this.keyOf(parts);
    if (hash === undefined) {
      tell('miss');
      yield* generate(signal);
      return;
    }
    let flight = this.flights.get(hash);
    const leader = !flight;
    flight ??= this.start(hash, generate);
    const leave = flight.join();
    try {
      // The leader learns whether it generates; a follower is served by someone else's work.
      const source = leader ? await unlessAborted(flight.source, signal) : 'hit';
      if (leader) tell(source);
      let told = leader;
      for await (const e of flight.tail(signal)) {
        if (!told) {
          told = true;
          tell('hit');
        }
        const own = leader && source === 'miss';
        yield e.type === 'done' && !own ? { ...e, timings: { ...e.timings, totalMs: performance.now() - started } } : e;
      }
    } finally {
      leave();
    }
  }

  /** The key's hash, or undefined when this request is not cacheable (see `resolveModel`). */
  private async keyOf(parts: CacheKeyParts): Promise<string | undefined> {
    // Also for name@version: the key carries what the workers loaded (its digest).
    let served: readonly ServedModelInfo[];
    try {
      served = await this.servedModels();
    } catch (err) {
      this.onError(err);
      return undefined;
    }
    const r = resolveModel(parts.model, parts.routingKey, served);
    if (!r) return undefined;
    return cacheKey({
      model: r.model,
      routingKey: r.byRoutingKey ? parts.routingKey : undefined,
      promptTokenIds: parts.promptTokenIds,
      sampling: parts.sampling,
      ...(parts.idempotencyKey !== undefined && { idempotencyKey: parts.idempotencyKey }),
    });
  }

  private start(hash: string, generate: (signal: AbortSignal) => AsyncIterable<TextEvent>): Flight {
    const flight: Flight = new Flight(() => this.forget(hash, flight), this.outlivesCallersMs);
    this.flights.set(hash, flight);
    void this.run(hash, flight, generate);
    return flight;
  }

  private forget(hash: string, flight: Flight): void {
    if (this.flights.get(hash) === flight) this.flights.delete(hash);
  }

  private replay(flight: Flight, events: readonly TextEvent[]): void {
    flight.decided('hit');
    for (const e of events) flight.push(e);
    flight.finish();
  }

  private async run(hash: string, flight: Flight, generate: (signal: AbortSignal) => AsyncIterable<TextEvent>): Promise<void> {
    const { signal } = flight;
    let locked = false;
    try {
      const stored = await this.guard.call(() => this.entries.get(hash), null);
      if (stored) return this.replay(flight, stored);
      while (this.lockTtlMs > 0 && !signal.aborted) {
        const won = await this.guard.call(() => this.entries.lock(hash, this.owner, this.lockTtlMs), undefined);
        if (won !== false) {
          // Won, or the store failed (then generate without a lock).
          locked = won === true;
          break;
        }
        const entry = await this.waitForOther(hash, signal);
        if (entry) return this.replay(flight, entry);
        // The lock went without an entry (that replica failed or was abandoned): try to take it.
      }
      if (signal.aborted) throw signal.reason;
      flight.decided('miss');
      await this.generate(hash, flight, generate, locked);
    } catch (err) {
      this.forget(hash, flight);
      flight.fail(err);
    } finally {
      // Abandoned before deciding: nobody waits on `source` any more, but settle it anyway.
      flight.decided('miss');
      if (locked) await this.guard.call(() => this.entries.unlock(hash, this.owner), undefined);
      this.forget(hash, flight);
    }
  }

  private async generate(hash: string, flight: Flight, generate: (signal: AbortSignal) => AsyncIterable<TextEvent>, locked: boolean): Promise<void> {
    const renew = locked ? setInterval(() => void this.guard.call(() => this.entries.extendLock(hash, this.lockTtlMs), false), this.lockTtlMs / 2) : undefined;
    try {
      for await (const e of generate(flight.signal)) flight.push(e);
    } finally {
      clearInterval(renew);
    }
    flight.finish();
    const last = flight.buffered.at(-1);
    if (last?.type === 'done' && STORABLE.has(last.finishReason)) {
      // Listeners already have the final event; new arrivals still join this flight until stored.
      await this.guard.call(() => this.entries.put(hash, flight.buffered), undefined);
    } else {
      this.forget(hash, flight);
    }
  }

  /** Polls for another replica's entry while it holds the lock; null when the lock went without one or on abort. */
  private async waitForOther(hash: string, signal: AbortSignal): Promise<TextEvent[] | null> {
    for (;;) {
      try {
        await sleep(this.pollMs, undefined, { signal });
      } catch {
        return null; // aborted
      }
      const entry = await this.guard.call(() => this.entries.get(hash), null);
      if (entry) return entry;
      if (!(await this.guard.call(() => this.entries.locked(hash), false))) {
        // It may have stored the entry and unlocked between the two reads.
        return this.guard.call(() => this.entries.get(hash), null);
      }
    }
  }
}
