import { HealthCheckResponse_ServingStatus as ServingStatus } from '@tokenmesh/proto';

/** grpc.health.v1 serving status: SERVING, NOT_SERVING, SERVICE_UNKNOWN (Watch only), UNKNOWN. */
export { ServingStatus };

type Listener = (service: string, status: ServingStatus) => void;

/**
 * The serving status of each gRPC service name a server hosts, as reported by grpc.health.v1.
 * The empty name `''` is the server as a whole. The service sets statuses (e.g. NOT_SERVING
 * until its model is loaded); `startServer` marks everything NOT_SERVING when it begins to close.
 */
export class HealthReporter {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly listeners = new Set<Listener>();
  private closing = false;

  /** Set the status of `service` ('' = overall) and tell every watcher. Ignored once shut down. */
  set(service: string, status: ServingStatus): void {
    if (this.closing || this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const l of this.listeners) l(service, status);
  }

  /** Set every known service, overall included, to `status` (e.g. SERVING once warmed up). */
  setAll(status: ServingStatus): void {
    for (const service of [...this.statuses.keys()]) this.set(service, status);
  }

  /** The status of `service`, or undefined when it was never registered. */
  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** A snapshot of every known service and its status. */
  list(): ReadonlyMap<string, ServingStatus> {
    return new Map(this.statuses);
  }

  /** True once `shutdown()` ran: statuses are frozen at NOT_SERVING. */
  get shuttingDown(): boolean {
    return this.closing;
  }

  /**
   * Mark every service NOT_SERVING for good and end all watches after they have seen it.
   * Statuses are frozen afterwards so a late `set(…, SERVING)` from a still-running handler
   * cannot tell load balancers to send traffic to a server that is going away.
   */
  shutdown(): void {
    if (this.closing) return;
    this.setAll(ServingStatus.NOT_SERVING);
    this.closing = true;
    for (const l of this.listeners) l('', ServingStatus.NOT_SERVING);
  }

  /**
   * The current status of `service` (SERVICE_UNKNOWN when not registered), then each change,
   * skipping repeats. Ends when `signal` aborts or after the NOT_SERVING that `shutdown()` sends.
   */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus> {
    const pending: ServingStatus[] = [];
    let wake: (() => void) | undefined;
    const listener: Listener = (name, status) => {
      if (name !== service && !this.closing) return;
      pending.push(this.closing ? ServingStatus.NOT_SERVING : status);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.listeners.add(listener);
    signal.addEventListener('abort', onAbort);
    try {
      let last = this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
      yield last;
      while (!signal.aborted && !(this.closing && last === ServingStatus.NOT_SERVING)) {
        const next = pending.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        } else if (next !== last) {
          last = next;
          yield next;
        }
      }
    } finally {
      this.listeners.delete(listener);
      signal.removeEventListener('abort', onAbort);
    }
  }
}
