import { setTimeout as delay } from 'node:timers/promises';

import { createClient, type Transport } from '@connectrpc/connect';
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from '@tokenmesh/proto';

import type { Worker } from './worker';

/** Resolves after `ms`, or at once when `signal` aborts; never rejects, never holds the process open. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal, ref: false }).catch(() => undefined);

export interface MonitorOptions {
  /** First retry delay after a Watch stream or ListServedModels call fails; doubles to `maxBackoffMs`. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Told when the health status flips, for logs. */
  readonly onHealth?: (w: Worker, healthy: boolean) => void;
}

/**
 * Reads what the worker serves now (ListServedModels): context lengths, capacities, parents and
 * digests. A static worker's models come from here; a discovered one's from its heartbeats, but
 * after a change this router made (an adapter loaded or unloaded) the answer is newer than the
 * last beat, so it is taken at once.
 */
export async function readServed(w: Worker, signal?: AbortSignal): Promise<void> {
  const revision = w.announcement.revision;
  const { models } = await w.client.listServedModels({}, { signal, timeoutMs: 2000 });
  w.served.clear();
  for (const m of models) w.served.set(`${m.name}@${m.version}`, { contextLength: m.contextLength, capacity: m.capacity, parent: m.parent, digest: m.digest });
  w.announcement = { ...w.announcement, models: models.map((m) => `${m.name}@${m.version}`) };
  w.servedRevision = revision;
}

/**
 * Keeps a worker's `healthy` flag current from its grpc.health.v1 Watch stream (a broken stream
 * means unhealthy until it is back: a killed worker drops out at once, not after three missed
 * beats), and learns from ListServedModels what the worker serves and each model's context
 * length. Returns the function that stops both.
 */
export function monitorWorker(w: Worker, transport: Transport, opts: MonitorOptions = {}): () => void {
  const abort = new AbortController();
  const { signal } = abort;
  const health = createClient(Health, transport);
  const backoff0 = opts.backoffMs ?? 250;
  const maxBackoff = opts.maxBackoffMs ?? 5000;

  const setHealthy = (healthy: boolean) => {
    if (w.healthy === healthy) return;
    w.healthy = healthy;
    opts.onHealth?.(w, healthy);
  };

  void (async () => {
    let delay = backoff0;
    while (!signal.aborted) {
      try {
        for await (const m of health.watch({ service: '' }, { signal })) {
          setHealthy(m.status === ServingStatus.SERVING);
          delay = backoff0;
        }
      } catch {
        // Reconnect below; the reason shows in the worker's own logs.
      }
      if (signal.aborted) break;
      setHealthy(false);
      await sleep(delay, signal);
      delay = Math.min(maxBackoff, delay * 2);
    }
  })();

  void (async () => {
    let delay = backoff0;
    while (!signal.aborted) {
      const missing =
        w.announcement.models === undefined ||
        w.announcement.models.some((m) => !w.served.has(m)) ||
        (w.announcement.revision !== undefined && w.announcement.revision !== w.servedRevision);
      if (missing) {
        try {
          await readServed(w, signal);
          delay = backoff0;
        } catch {
          delay = Math.min(maxBackoff, delay * 2);
        }
      }
      // A heartbeat with a new catalog revision (an adapter loaded or reloaded) wakes it at once.
      await Promise.race([sleep(missing ? delay : maxBackoff, signal), w.nextCatalogChange()]);
    }
  })();

  return () => abort.abort();
}
