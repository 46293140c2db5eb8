import { createGauge, type Registry } from '@tokenmesh/metrics';

/** The serving thread's load as `ServingLoad` reports it (0 idle … 1 never waiting). */
export interface LoadSource {
  readonly utilization: number;
}

/** Where holding starts and where it reaches `maxMs`, as event-loop utilization. */
export const HOLD_FROM = 0.45;
export const HOLD_FULL = 0.75;

/**
 * How long a stream's next message may wait for more tokens after the previous one went out:
 * 0 while the serving thread is not busy (every token leaves as soon as it is decoded), rising
 * to `maxMs` as its event loop fills up. Every message costs the serving path the same however
 * many tokens it carries, on every hop; past this point that cost competes with the model for
 * the machine's cores, and a few more milliseconds between chunks buy it back. The first token
 * and the last message are never held.
 */
export function streamHold(maxMs: number, load: LoadSource): () => number {
  if (maxMs <= 0) return () => 0;
  return () => {
    const u = load.utilization;
    return u <= HOLD_FROM ? 0 : maxMs * Math.min(1, (u - HOLD_FROM) / (HOLD_FULL - HOLD_FROM));
  };
}

/**
 * `tokenmesh_serving_thread_utilization` and `tokenmesh_stream_hold_seconds`, read at scrape
 * time: whether this process's serving thread is busy, and what that makes streams wait.
 */
export function watchServingLoad(registry: Registry, load: LoadSource, holdMs: () => number): void {
  createGauge(registry, {
    name: 'serving_thread_utilization',
    help: 'Share of time the serving thread event loop was busy (about the last second)',
    collect() {
      this.set(load.utilization);
    },
  });
  createGauge(registry, {
    name: 'stream_hold_seconds',
    help: 'How long a streamed message may wait for more tokens now (0 while the serving thread is not busy)',
    collect() {
      this.set(holdMs() / 1000);
    },
  });
}
