import { Code, ConnectError } from '@connectrpc/connect';

import type { TextEvent } from '../pipeline/generate-text';

/** Where a flight's events come from: the store or another replica's entry ('hit'), or a generation here ('miss'). */
export type FlightSource = 'hit' | 'miss';

/**
 * One answer being produced for everyone who asked for it in this process: a buffer of events that
 * any number of listeners tail from the start, live. The work behind it (store lookup, wait for
 * another replica, generation) runs under the flight's own signal, which aborts only when the
 * last listener leaves before the end: one client going away never cuts the others off.
 */
export class Flight {
  private readonly events: TextEvent[] = [];
  private state: 'running' | 'done' | 'failed' = 'running';
  private error: unknown;
  private readonly wake = new Set<() => void>();
  private listeners = 0;
  private readonly abort = new AbortController();
  private decide!: (source: FlightSource) => void;
  /** Settles once the flight knows where its events come from, before the first one. */
  readonly source = new Promise<FlightSource>((resolve) => (this.decide = resolve));

  /** Running after every listener left (an idempotent generation's grace). */
  private orphaned: NodeJS.Timeout | undefined;

  /**
   * @param onAbandoned called (once) when the last listener left before the end.
   * @param outlivesListenersMs how long the work goes on once every listener has left (an
   *   idempotent request's generation: its caller will ask again and find it); 0, the default,
   *   cancels it at once.
   */
  constructor(
    private readonly onAbandoned: () => void,
    private readonly outlivesListenersMs = 0,
  ) {}

  /** Aborts when every listener has left before the flight ended. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get ended(): boolean {
    return this.state !== 'running';
  }

  /** The events so far (all of them once ended). */
  get buffered(): readonly TextEvent[] {
    return this.events;
  }

  decided(source: FlightSource): void {
    this.decide(source);
  }

  push(e: TextEvent): void {
    this.events.push(e);
    this.notify();
  }

  finish(): void {
    this.state = 'done';
    clearTimeout(this.orphaned);
    this.notify();
  }

  fail(err: unknown): void {
    if (this.state !== 'running') return;
    this.state = 'failed';
    clearTimeout(this.orphaned);
    this.error = err;
    this.notify();
  }

  /** Registers a listener; the returned function unregisters it (idempotent). */
  join(): () => void {
    this.listeners++;
    clearTimeout(this.orphaned);
    this.orphaned = undefined;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      if (--this.listeners > 0 || this.state !== 'running' || this.abort.signal.aborted) return;
      if (this.outlivesListenersMs === 0) return this.abandon();
      this.orphaned = setTimeout(() => this.listeners === 0 && this.state === 'running' && this.abandon(), this.outlivesListenersMs);
      this.orphaned.unref();
    };
  }

  private abandon(): void {
    this.abort.abort(new ConnectError('every client sharing this generation went away', Code.Canceled));
    this.onAbandoned();
  }

  /**
   * Every event from the first, then each new one as it arrives; ends after the final event.
   * Buffered events (a replay) are yielded one per event-loop turn (setImmediate, microseconds):
   * each goes out in its own write and, on a socket, its own packet, so a replayed SSE or gRPC
   * stream arrives as a stream rather than one blob, and a long replay does not hold the event
   * loop — without a timer's ~1 ms per event, which would make a hit slower than the model.
   * @throws the flight's error, or Canceled when `signal` (this listener's request) aborts.
   */
  async *tail(signal: AbortSignal): AsyncGenerator<TextEvent> {
    for (let i = 0; ;) {
      while (i < this.events.length) {
        const e = this.events[i++]!;
        yield e;
        if (e.type === 'done') return;
        if (i < this.events.length) await new Promise((resolve) => setImmediate(resolve));
      }
      if (this.state === 'failed') throw this.error;
      if (this.state === 'done') return;
      await this.changed(signal);
    }
  }

  private notify(): void {
    for (const w of [...this.wake]) w();
  }

  private changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        done();
        // The request's own reason: its deadline (DEADLINE_EXCEEDED) is not a client leaving.
        reject(signal.reason instanceof ConnectError ? signal.reason : new ConnectError('the client went away', Code.Canceled));
      };
      const done = () => {
        this.wake.delete(wakeUp);
        signal.removeEventListener('abort', onAbort);
      };
      const wakeUp = () => {
        done();
        resolve();
      };
      if (signal.aborted) return onAbort();
      this.wake.add(wakeUp);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
