import { create, toBinary } from '@bufbuild/protobuf';
import { type Bus, SUBJECTS } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import { WorkerHeartbeatSchema } from '@tokenmesh/proto';

/** What a worker reports about its load in each heartbeat. */
export interface WorkerSnapshot {
  /** name@version of every model served. */
  readonly models: readonly string[];
  /** Requests generating now, over all models. */
  readonly running: number;
  /** Requests queued, over all models. */
  readonly waiting: number;
  /** KV tokens reserved over the KV budget, 0..1. */
  readonly kvBudgetUsed: number;
  /** Changes at every model or adapter load and unload (WorkerHeartbeat.catalog_revision). */
  readonly revision?: number;
}

/** Options of `startHeartbeat`. */
export interface HeartbeatOptions {
  readonly bus: Bus;
  readonly workerId: string;
  /** Base URL a router dials, e.g. `http://10.0.0.7:50054`. */
  readonly address: string;
  readonly weight: number;
  readonly periodMs: number;
  /** Read at every beat; a throw counts as a failed beat. */
  readonly snapshot: () => WorkerSnapshot;
  readonly logger: Logger;
}

/** A running heartbeat. */
export interface Heartbeat {
  /** Announces draining at once, and in every later beat, so routers stop sending new requests. */
  drain(): void;
  /** Beats now, out of period: what the worker serves changed (an adapter loaded or unloaded). */
  announce(): void;
  /** Stops beating; idempotent. The owner of the bus closes it. */
  stop(): void;
}

/**
 * Publishes a WorkerHeartbeat on `SUBJECTS.heartbeat(workerId)` at once, then every `periodMs`,
 * so routers discover the worker and see its load. Core pub/sub on purpose: a beat is only worth
 * its latest value, so nothing is stored or redelivered. A failed publish never throws (a bus
 * outage must not take serving down); it is logged once per streak of failures.
 */
export function startHeartbeat(opts: HeartbeatOptions): Heartbeat {
  const subject = SUBJECTS.heartbeat(opts.workerId);
  let draining = false;
  let stopped = false;
  let failing = false;

  const beat = (): void => {
    if (stopped) return;
    try {
      const s = opts.snapshot();
      const msg = create(WorkerHeartbeatSchema, {
        workerId: opts.workerId,
        address: opts.address,
        models: [...s.models],
        runningRequests: s.running,
        waitingRequests: s.waiting,
        catalogRevision: BigInt(s.revision ?? 0),
        kvBudgetUsed: Math.min(1, Math.max(0, s.kvBudgetUsed)),
        weight: opts.weight,
        draining,
        sentAtUnixMs: BigInt(Date.now()),
      });
      opts.bus.publish(subject, toBinary(WorkerHeartbeatSchema, msg));
      if (failing) opts.logger.info('heartbeat publish recovered', { subject });
      failing = false;
    } catch (err) {
      if (!failing) opts.logger.warn('heartbeat publish failed; retrying every period, logged again after a success', { subject, err });
      failing = true;
    }
  };

  beat();
  // Unref'd: a heartbeat alone must not keep a process (or a test run) alive.
  const timer = setInterval(beat, opts.periodMs).unref();
  return {
    drain() {
      if (stopped || draining) return;
      draining = true;
      beat();
    },
    announce: beat,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
