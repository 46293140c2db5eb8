import type { Client } from '@connectrpc/connect';
import type { AdapterService, GenerationService, ModelControlService } from '@tokenmesh/proto';
import type { Http2SessionManager } from '@tokenmesh/server';

/** What a worker last told the router about itself (heartbeat), or what static config says. */
export interface WorkerAnnouncement {
  readonly id: string;
  /** Base URL of the worker's GenerationService, e.g. http://10.0.0.7:50054. */
  readonly address: string;
  /** name@version of every model served; undefined while unknown (a static worker not yet asked). */
  readonly models: readonly string[] | undefined;
  readonly running: number;
  readonly waiting: number;
  readonly kvBudgetUsed: number;
  readonly weight: number;
  readonly draining: boolean;
  /** WorkerHeartbeat.catalog_revision: a new value means ListServedModels has changed. */
  readonly revision?: number;
}

/** Outlier-ejection state of one worker (see OutlierDetector). */
export interface OutlierState {
  consecutiveFailures: number;
  /** How many times it was ejected; each ejection lasts base × this. */
  ejections: number;
  /** performance.now() until which it gets no requests; 0 when not ejected. */
  ejectedUntil: number;
}

/**
 * One inference worker in the router's pool: its announcement, the router's own view of its
 * load (calls in flight), its grpc.health.v1 status and its outlier state. Mutable on purpose:
 * the pool updates it in place so balancers and in-flight calls see one object.
 */
export class Worker {
  announcement: WorkerAnnouncement;
  /** performance.now() of the last heartbeat; static workers never go stale. */
  lastSeen: number;
  /** Calls the router has open to it right now (acquire/release). */
  private calls = 0;
  private retired = false;
  /** From the health Watch: false while NOT_SERVING or unreachable, true once SERVING. */
  healthy: boolean | undefined = undefined;
  readonly outlier: OutlierState = { consecutiveFailures: 0, ejections: 0, ejectedUntil: 0 };
  /** performance.now() until which it counts as full, after it answered RESOURCE_EXHAUSTED (WorkerPool.markFull). */
  fullUntil = 0;
  /** Its reported running + waiting when it turned a call away; a heartbeat below it means room again. */
  fullLoad = 0;
  /**
   * What its ListServedModels says of each name@version: the context length, and the requests it
   * holds at once (running + waiting; 0: it did not say).
   */
  readonly served = new Map<string, { readonly contextLength: number; readonly capacity: number; readonly parent: string; readonly digest?: string }>();
  /** The announcement's revision when `served` was last read. */
  servedRevision: number | undefined;
  private wakeMonitor: (() => void) | undefined;

  constructor(
    announcement: WorkerAnnouncement,
    readonly client: Client<typeof GenerationService>,
    readonly close: () => void,
    readonly isStatic: boolean,
    now: number,
    /** Its run-time adapters (the router's AdapterService fans out to it); none in tests of other parts. */
    readonly adapters?: Client<typeof AdapterService>,
    /** Its run-time model versions (the router's ModelControlService fans out to it). */
    readonly control?: Client<typeof ModelControlService>,
    /** Its HTTP/2 connection, for the frame relay (routing/relay); undefined: relay through `client`. */
    readonly session: () => Http2SessionManager | undefined = () => undefined,
  ) {
    this.announcement = announcement;
    this.lastSeen = now;
  }

  get inFlight(): number {
    return this.calls;
  }

  /** A heartbeat says what it serves changed (a new catalog revision): its monitor reads it now. */
  catalogChanged(): void {
    this.wakeMonitor?.();
  }

  /** Resolves at the next catalogChanged() (what the monitor waits for besides its period). */
  nextCatalogChange(): Promise<void> {
    return new Promise((resolve) => (this.wakeMonitor = resolve));
  }

  /** A call to it starts. */
  acquire(): void {
    this.calls++;
  }

  /** A call to it ended; the last one closes the connection of a retired worker. */
  release(): void {
    this.calls--;
    if (this.retired && this.calls === 0) this.close();
  }

  /**
   * Out of the pool: the connection closes once its open calls end, so a worker replaced (a
   * static entry by its heartbeat, a new address) or forgotten does not cut streams in progress.
   */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.calls === 0) this.close();
  }

  get id(): string {
    return this.announcement.id;
  }

  get address(): string {
    return this.announcement.address;
  }

  get weight(): number {
    return Math.max(1, this.announcement.weight);
  }

  /** The worker's own queue, as last reported: least-connections and P2C add it to inFlight. */
  get waiting(): number {
    return this.announcement.waiting;
  }

  /** Whether it serves `model`: `name@version` exactly, or any version of a bare `name`. */
  serves(model: string): boolean {
    const models = this.announcement.models;
    if (models === undefined) return true;
    return model.includes('@') ? models.includes(model) : models.some((m) => m.startsWith(`${model}@`));
  }
}
