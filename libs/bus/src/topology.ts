import type { StreamConfig } from './bus';

/**
 * The mesh's durable events: completions (published by the gateway) and feedback (by the
 * feedback service). Limits retention, so every durable consumer sees every event; msgId dedup
 * (the request or feedback id) makes a retried publish harmless.
 */
export const EVENTS_STREAM: StreamConfig = {
  name: 'TOKENMESH_EVENTS',
  subjects: ['tokenmesh.events.>'],
  retention: 'limits',
  duplicateWindowMs: 120_000,
};

export const SUBJECTS = {
  completion: 'tokenmesh.events.completion',
  feedback: 'tokenmesh.events.feedback',
  /** Core NATS, one subject per worker. */
  heartbeat: (workerId: string) => `tokenmesh.workers.heartbeat.${workerId}`,
} as const;
