import { fromBinary } from '@bufbuild/protobuf';
import { type Bus, SUBJECTS, type Unsubscribe } from '@tokenmesh/bus';
import { WorkerHeartbeatSchema } from '@tokenmesh/proto';

import type { WorkerPool } from './worker-pool';

/** Every worker's heartbeat subject. */
// '>' rather than '*': a worker id (hostname-pid) may contain dots.
export const HEARTBEAT_PATTERN = SUBJECTS.heartbeat('>');

/**
 * Feeds the pool from worker heartbeats on the bus and sweeps silent workers out once a period.
 * Resolves once subscribed; the returned function stops both.
 */
export async function discoverWorkers(bus: Bus, pool: WorkerPool, periodMs: number, onBadBeat: (err: unknown) => void): Promise<Unsubscribe> {
  const unsubscribe = await bus.subscribe(HEARTBEAT_PATTERN, (msg) => {
    let hb;
    try {
      hb = fromBinary(WorkerHeartbeatSchema, msg.data);
    } catch (err) {
      onBadBeat(err);
      return;
    }
    if (!hb.workerId || !hb.address) return onBadBeat(new Error(`heartbeat on ${msg.subject} lacks worker_id or address`));
    pool.announce({
      id: hb.workerId,
      address: hb.address,
      models: hb.models,
      running: hb.runningRequests,
      waiting: hb.waitingRequests,
      kvBudgetUsed: hb.kvBudgetUsed,
      weight: hb.weight,
      draining: hb.draining,
      revision: Number(hb.catalogRevision),
    });
  });
  const sweep = setInterval(() => pool.sweep(), periodMs);
  sweep.unref();
  return () => {
    clearInterval(sweep);
    unsubscribe();
  };
}
