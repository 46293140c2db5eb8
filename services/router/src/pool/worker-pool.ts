import type { Client } from '@connectrpc/connect';
import type { AdapterService, GenerationService, ModelControlService } from '@tokenmesh/proto';
import type { Http2SessionManager } from '@tokenmesh/server';

import { DEFAULT_OUTLIER_POLICY, OutlierDetector } from './outlier-detector';
import { Worker, type WorkerAnnouncement } from './worker';

/** A connection to one worker address. */
export interface WorkerConnection {
  readonly client: Client<typeof GenerationService>;
  readonly adapters?: Client<typeof AdapterService>;
  readonly control?: Client<typeof ModelControlService>;
  /** Its HTTP/2 connection for relaying gRPC frames; none (or undefined from it) when calls take no socket. */
  readonly session?: () => Http2SessionManager | undefined;
  readonly close: () => void;
}

export interface WorkerPoolOptions {
  /** Opens the connection for a new worker address. */
  readonly connect: (address: string) => WorkerConnection;
  /** The workers' heartbeat period; a worker that misses `missedBeats` of them gets no new requests. */
  readonly heartbeatMs?: number;
  readonly missedBeats?: number;
  /** A silent worker is forgotten (connection closed) after this many periods. */
  readonly forgetAfterBeats?: number;
  readonly outliers?: OutlierDetector;
  /** Called once per worker added; the returned function once when it leaves (health watch, metadata). */
  readonly attach?: (w: Worker) => () => void;
  /** Told about each change, for logs and metrics. */
  readonly onEvent?: (event: PoolEvent, w: Worker) => void;
  readonly now?: () => number;
}

export type PoolEvent = 'added' | 'removed' | 'draining' | 'ejected';

/** One model version the pool serves, for ListServedModels. */
export interface PoolModel {
  readonly name: string;
  readonly version: string;
  readonly contextLength: number;
  readonly workers: number;
  /** Requests its workers hold at once, summed; 0 when any of them has not said. */
  readonly capacity: number;
  /** A LoRA adapter's base model; empty for a base. */
  readonly parent: string;
  /** What its workers loaded (ListServedModels.digest), comma-separated when they disagree; empty when none said. */
  readonly digest: string;
}

/**
 * The live set of inference workers. Discovered workers come and go with their heartbeats;
 * static ones (ROUTER_WORKERS) stay. `eligible(model)` is what balancers choose from: serving
 * the model, heard from within `missedBeats` periods, not draining, not ejected, not reported
 * NOT_SERVING by their health Watch.
 *
 * Heartbeats are the control plane and the health Watch is the data plane's own signal: while
 * the bus is down (`heartbeatsFlowing(false)`) silence says nothing about a worker, so one whose
 * Watch says SERVING stays eligible; once the bus is back, staleness counts from then.
 */
export class WorkerPool {
  private readonly workers = new Map<string, Worker>();
  private readonly detach = new Map<string, () => void>();
  private readonly staleAfterMs: number;
  private readonly forgetAfterMs: number;
  private readonly heartbeatMs: number;
  /** Every name@version a worker has served since start: a model that loses its workers is UNAVAILABLE, not NOT_FOUND. */
  private readonly served = new Set<string>();
  private flowing = true;
  /** performance.now() when heartbeats resumed; silence before it is not the workers'. */
  private resumedAt = -Infinity;
  readonly outliers: OutlierDetector;
  private readonly now: () => number;

  constructor(private readonly opts: WorkerPoolOptions) {
    const beat = opts.heartbeatMs ?? 1000;
    this.heartbeatMs = beat;
    this.staleAfterMs = beat * (opts.missedBeats ?? 3);
    this.forgetAfterMs = beat * (opts.forgetAfterBeats ?? 30);
    this.outliers = opts.outliers ?? new OutlierDetector(DEFAULT_OUTLIER_POLICY);
    this.now = opts.now ?? (() => performance.now());
  }

  /** A heartbeat: adds the worker, or refreshes it (a new address means a new connection). */
  announce(a: WorkerAnnouncement): Worker {
    this.remember(a.models);
    const known = this.workers.get(a.id);
    if (known && known.address === a.address) {
      const wasDraining = known.announcement.draining;
      // Its queue went down since it turned a call away: it has room again.
      if (a.running + a.waiting < known.fullLoad) known.fullUntil = 0;
      const changed = a.revision !== undefined && a.revision !== known.servedRevision && a.revision !== known.announcement.revision;
      known.announcement = a;
      if (changed) known.catalogChanged();
      known.lastSeen = this.now();
      if (a.draining && !wasDraining) this.opts.onEvent?.('draining', known);
      return known;
    }
    if (known) this.remove(a.id);
    // A worker listed statically and also heard from: its heartbeats describe it better.
    for (const w of this.workers.values()) if (w.isStatic && w.address === a.address) this.remove(w.id);
    const conn = this.opts.connect(a.address);
    const w = new Worker(a, conn.client, conn.close, false, this.now(), conn.adapters, conn.control, conn.session);
    this.add(w);
    return w;
  }

  /** A worker from static configuration: never stale, models learnt by asking it. */
  addStatic(address: string): Worker {
    const conn = this.opts.connect(address);
    const w = new Worker(
      { id: address, address, models: undefined, running: 0, waiting: 0, kvBudgetUsed: 0, weight: 1, draining: false },
      conn.client,
      conn.close,
      true,
      this.now(),
      conn.adapters,
      conn.control,
      conn.session,
    );
    this.add(w);
    return w;
  }

  private add(w: Worker): void {
    this.workers.set(w.id, w);
    this.opts.onEvent?.('added', w);
    if (this.opts.attach) this.detach.set(w.id, this.opts.attach(w));
  }

  /** Forgets a worker; its connection closes once the calls in flight on it end. */
  remove(id: string): void {
    const w = this.workers.get(id);
    if (!w) return;
    this.workers.delete(id);
    this.detach.get(id)?.();
    this.detach.delete(id);
    w.retire();
    this.opts.onEvent?.('removed', w);
  }

  /**
   * Tells the pool whether heartbeats can arrive (the bus is connected). While they cannot, a
   * worker whose health Watch says SERVING is neither stale nor forgotten.
   */
  heartbeatsFlowing(flowing: boolean): void {
    if (flowing && !this.flowing) this.resumedAt = this.now();
    this.flowing = flowing;
  }

  /** Forgets workers silent for `forgetAfterBeats` periods; call it about once a period. */
  sweep(): void {
    const now = this.now();
    for (const w of [...this.workers.values()]) {
      if (!w.isStatic && this.silentFor(w, now) > this.forgetAfterMs) this.remove(w.id);
    }
  }

  /** How long a worker has been silent through its own fault: 0 while the bus is down and its Watch says SERVING. */
  private silentFor(w: Worker, now: number): number {
    if (!this.flowing && w.healthy === true) return 0;
    return now - Math.max(w.lastSeen, this.resumedAt);
  }

  get(id: string): Worker | undefined {
    return this.workers.get(id);
  }

  get all(): readonly Worker[] {
    return [...this.workers.values()];
  }

  /** Heard from recently enough to count as present (static workers always are). */
  isLive(w: Worker, now = this.now()): boolean {
    return w.isStatic || this.silentFor(w, now) <= this.staleAfterMs;
  }

  /** Why a worker is not taking new requests, or undefined when it is. */
  excluded(w: Worker, now = this.now()): 'stale' | 'draining' | 'ejected' | 'unhealthy' | undefined {
    if (!this.isLive(w, now)) return 'stale';
    if (w.announcement.draining) return 'draining';
    if (w.healthy === false) return 'unhealthy';
    if (this.outliers.isEjected(w.outlier, now)) return 'ejected';
    return undefined;
  }

  /** Workers that may take a new request for `model` (name or name@version). */
  eligible(model: string): Worker[] {
    const now = this.now();
    return this.all.filter((w) => w.serves(model) && this.excluded(w, now) === undefined);
  }

  /**
   * Whether some worker serves `model` or has served it since start, eligible or not: tells
   * NOT_FOUND (nobody ever served it) from UNAVAILABLE (its workers are out for now).
   */
  knows(model: string): boolean {
    for (const w of this.all) this.remember(w.announcement.models);
    if (model.includes('@')) return this.served.has(model);
    for (const id of this.served) if (id.startsWith(`${model}@`)) return true;
    return false;
  }

  private remember(models: readonly string[] | undefined): void {
    for (const id of models ?? []) this.served.add(id);
  }

  /**
   * The worker turned a call away with RESOURCE_EXHAUSTED: it counts as full until a heartbeat
   * shows its queue shorter, a call to it succeeds, or a heartbeat period passes.
   */
  markFull(w: Worker): void {
    w.fullUntil = this.now() + this.heartbeatMs;
    w.fullLoad = w.announcement.running + w.announcement.waiting;
  }

  /** Whether the worker said it is full and nothing since says otherwise (see markFull). */
  isFull(w: Worker, now = this.now()): boolean {
    return w.fullUntil > now;
  }

  /** Records a call's outcome for outlier detection; returns true when a failure ejected it. */
  outcome(w: Worker, ok: boolean): boolean {
    if (ok) {
      this.outliers.success(w.outlier);
      w.fullUntil = 0;
      return false;
    }
    const now = this.now();
    const live = this.all.filter((x) => this.isLive(x, now));
    const ejected = live.filter((x) => this.outliers.isEjected(x.outlier, now)).length;
    const out = this.outliers.failure(w.outlier, now, live.length, ejected);
    if (out) this.opts.onEvent?.('ejected', w);
    return out;
  }

  /** What the live, non-draining workers serve, with worker counts and capacity. */
  models(): PoolModel[] {
    const now = this.now();
    const merged = new Map<
      string,
      { name: string; version: string; contextLength: number; workers: number; capacity: number; parent: string; digests: Set<string> }
    >();
    for (const w of this.all) {
      if (!this.isLive(w, now) || w.announcement.draining) continue;
      for (const id of w.announcement.models ?? []) {
        const at = id.lastIndexOf('@');
        const seen = merged.get(id);
        const said = w.served.get(id);
        const contextLength = said?.contextLength ?? 0;
        // One worker that has not said makes the sum unknown: a low figure would shed what it could take.
        const capacity = said?.capacity || NaN;
        if (seen) {
          seen.workers++;
          seen.contextLength ||= contextLength;
          seen.capacity += capacity;
          seen.parent ||= said?.parent ?? '';
          if (said?.digest) seen.digests.add(said.digest);
        } else {
          const digests = new Set(said?.digest ? [said.digest] : []);
          merged.set(id, { name: id.slice(0, at), version: id.slice(at + 1), contextLength, workers: 1, capacity, parent: said?.parent ?? '', digests });
        }
      }
    }
    return [...merged.values()].map(({ digests, ...m }) => ({
      ...m,
      capacity: Number.isNaN(m.capacity) ? 0 : m.capacity,
      digest: [...digests].sort().join(','),
    }));
  }

  /** Forgets every worker (after the server drained, so no call is left; any that is closes its connection when it ends). */
  close(): void {
    for (const id of [...this.workers.keys()]) this.remove(id);
  }
}
