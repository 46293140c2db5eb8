import { type Bus, consumerLagGauge as lagGauge, EVENTS_STREAM } from '@tokenmesh/bus';
import type { Registry } from '@tokenmesh/metrics';

import { CONSUMER } from './completion-consumer';

/**
 * `tokenmesh_feedback_consumer_lag`: events of the stream the report has not folded in yet
 * (never delivered to the shared durable consumer, or delivered and not acked).
 */
export function consumerLagGauge(registry: Registry, bus: Bus): void {
  lagGauge(registry, bus, {
    name: 'feedback_consumer_lag',
    help: 'Events on the events stream the feedback report has not counted yet (pending plus unacked for the feedback-aggregates consumer)',
    stream: EVENTS_STREAM.name,
    durable: CONSUMER,
  });
}
