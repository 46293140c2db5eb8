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
