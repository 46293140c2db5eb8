import type { Client, ServiceImpl } from '@connectrpc/connect';
import { GenerationService } from '@tokenmesh/proto';
import type { RoundRobin } from './round-robin';

/** A worker the router can send Generate calls to. */
export interface WorkerTarget {
  readonly address: string;
  readonly client: Client<typeof GenerationService>;
}

/**
 * The router speaks the workers' own GenerationService, so callers cannot tell it from a worker:
 * it forwards each call to the next worker and relays the stream. The caller's abort signal and
 * remaining deadline go with the forwarded call, so a client that goes away frees the worker.
 */
export function routerService(workers: RoundRobin<WorkerTarget>): ServiceImpl<typeof GenerationService> {
  return {
    /** Every model version the pool serves, with how many workers serve it; silent workers are left out. */
    async listServedModels(_req, ctx) {
      const answers = await Promise.allSettled(workers.all.map((w) => w.client.listServedModels({}, { signal: ctx.signal, timeoutMs: 2000 })));
      const merged = new Map<string, { name: string; version: string; contextLength: number; workers: number }>();
      for (const a of answers) {
        if (a.status !== 'fulfilled') continue;
        for (const m of a.value.models) {
          const key = `${m.name}@${m.version}`;
          const seen = merged.get(key);
          if (seen) seen.workers += m.workers;
          else merged.set(key, { name: m.name, version: m.version, contextLength: m.contextLength, workers: m.workers });
        }
      }
      return { models: [...merged.values()] };
    },

    async *generate(req, ctx) {
      const worker = workers.pick();
      yield* worker.client.generate(req, { signal: ctx.signal, timeoutMs: ctx.timeoutMs(), headers: forwardedHeaders(ctx.requestHeader) });
    },
  };
}

// Trace context is re-injected by the client interceptor; request ids and keys travel in fields.
const FORWARDED = ['x-request-id'];

function forwardedHeaders(h: Headers): Headers {
  const out = new Headers();
  for (const name of FORWARDED) {
    const v = h.get(name);
    if (v) out.set(name, v);
  }
  return out;
}
