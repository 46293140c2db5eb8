import { type Bus, EVENTS_STREAM } from '@tokenmesh/bus';
import { createGauge, type Registry } from '@tokenmesh/metrics';

import { CONSUMER } from './completion-consumer';

/** A scrape waits at most this long for the bus; past it the gauge keeps its last value. */
const ASK_TIMEOUT_MS = 500;

/**
 * `tokenmesh_feedback_consumer_lag`: events of the stream the report has not folded in yet
 * (never delivered to the shared durable consumer, or delivered and not acked). Asked of the
 * bus at each scrape; while the bus cannot answer (NATS away) the last value stays, and the
 * bus-disconnected alert says why.
 */
export function consumerLagGauge(registry: Registry, bus: Bus): void {
  createGauge(registry, {
    name: 'feedback_consumer_lag',
    help: 'Events on the events stream the feedback report has not counted yet (pending plus unacked for the feedback-aggregates consumer)',
    async collect() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ASK_TIMEOUT_MS)));
      const lag = await Promise.race([bus.consumerLag(EVENTS_STREAM.name, CONSUMER).catch(() => undefined), timeout]);
      clearTimeout(timer);
      if (lag !== undefined) this.set(lag);
    },
  });
}
