import { createGauge, type Registry } from '@tokenmesh/metrics';

/** The serving thread's load as `ServingLoad` reports it (0 idle … 1 never waiting). */
export interface LoadSource {
  readonly utilization: number;
}

/** Where holding starts and where it reaches `maxMs`, as event-loop utilization. */
export const HOLD_FROM = 0.45;
export const HOLD_FULL = 0.75;
/** …and as streams this worker serves at once. */
export const HOLD_FROM_STREAMS = 8;
export const HOLD_FULL_STREAMS = 32;

const ramp = (x: number, from: number, full: number) => Math.min(1, Math.max(0, (x - from) / (full - from)));

/**
 * How long a stream's next message may wait for more tokens after the previous one went out: 0
 * under light load (every token leaves as soon as it is decoded), rising to `maxMs` as the
 * serving thread's event loop fills up or as the worker serves more streams at once. Every
 * message costs every hop of the mesh the same however many tokens it carries (on this 2-core
 * machine a loopback write alone is ~50 µs); with many streams, each already gets a token only
 * once per batched step, and a few more milliseconds between its chunks buy back the cores the
 * model shares with the serving path. The first token and the last message are never held.
 */
export function streamHold(maxMs: number, load: LoadSource, streams: () => number): () => number {
  if (maxMs <= 0) return () => 0;
  return () => maxMs * Math.max(ramp(load.utilization, HOLD_FROM, HOLD_FULL), ramp(streams(), HOLD_FROM_STREAMS, HOLD_FULL_STREAMS));
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
