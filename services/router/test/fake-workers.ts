import { createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { GenerationService } from '@tokenmesh/proto';

import { type WorkerAnnouncement, WorkerPool, type WorkerPoolOptions } from '../src/pool';

/** Worker handlers by address, behind Connect's in-memory transport (real handlers, no network). */
export type FakeWorkers = Record<string, Partial<ServiceImpl<typeof GenerationService>>>;

/** A pool whose connections reach `workers` in memory; announce them to use them. */
export function fakePool(workers: FakeWorkers, opts: Partial<WorkerPoolOptions> = {}): WorkerPool {
  return new WorkerPool({
    connect: (address) => {
      const impl = workers[address];
      if (!impl) throw new Error(`no fake worker at ${address}`);
      const full: ServiceImpl<typeof GenerationService> = { listServedModels: () => ({ models: [] }), async *generate() {}, ...impl };
      return {
        client: createClient(
          GenerationService,
          createRouterTransport((r) => r.service(GenerationService, full)),
        ),
        close: () => undefined,
      };
    },
    // Announced once, they must not go stale while a slow (loaded) test runs; staleness tests set their own period.
    heartbeatMs: 3_600_000,
    ...opts,
  });
}

/** A heartbeat-shaped announcement with defaults. */
export function beat(id: string, models: string[] = ['tinygpt@1'], extra: Partial<WorkerAnnouncement> = {}): WorkerAnnouncement {
  return { id, address: id, models, running: 0, waiting: 0, kvBudgetUsed: 0, weight: 1, draining: false, ...extra };
}
