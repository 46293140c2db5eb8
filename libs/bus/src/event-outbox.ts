import { createCounter, createGauge, type Registry } from '@tokenmesh/metrics';

import type { Bus } from './bus';
import { Outbox, type OutboxLogger } from './outbox';
import { OutboxSpool } from './outbox-spool';

export interface EventOutboxOptions {
  readonly metrics: Registry;
  readonly logger: OutboxLogger;
  /** Events held at most (default: the Outbox's). */
  readonly capacity?: number;
  /** A directory for the journal (`<service>.jsonl`), so waiting events survive a crash; memory only without. */
  readonly spoolDir?: string;
  /** The journal's name: the service's. */
  readonly name: string;
}

/**
 * A service's outbox for its events on the stream, with `tokenmesh_outbox_depth` (events waiting
 * for the stream's ack) and `tokenmesh_outbox_shed_total{subject}` (events refused while full),
 * journaled in `spoolDir` when one is given. @throws when the journal is held by another process.
 */
export function eventOutbox(bus: Bus, o: EventOutboxOptions): Outbox {
  const depth = createGauge(o.metrics, { name: 'outbox_depth', help: 'Events waiting for the events stream to ack them' });
  const shed = createCounter(o.metrics, { name: 'outbox_shed_total', help: 'Events refused because the outbox was full', labelNames: ['subject'] });
  return new Outbox(bus, {
    ...(o.capacity ? { capacity: o.capacity } : {}),
    ...(o.spoolDir ? { spool: OutboxSpool.open(o.spoolDir, o.name) } : {}),
    logger: o.logger,
    onDepth: (n) => depth.set(n),
    onShed: (subject) => shed.inc({ subject }),
  });
}
