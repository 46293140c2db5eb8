import type { Interceptor } from '@connectrpc/connect';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from '@tokenmesh/logging';
import type { Registry } from '@tokenmesh/metrics';

import type { ServerHandle } from './start-server';

/**
 * What every service's `start(config, runtime)` gets from its main.ts or from the supervisor:
 * the process-level pieces a service must not create itself (one telemetry SDK per process,
 * one log sink), plus a metrics registry of its own.
 */
export interface ServiceRuntime {
  readonly logger: Logger;
  readonly metrics: Registry;
  /** The service's own tracer (spans carry its service.name even when services share a process). */
  readonly tracer: Tracer;
  /** For calls this service serves (tracing), outermost first. */
  readonly serverInterceptors: Interceptor[];
  /** For calls this service makes to others (trace context propagation), outermost first. */
  readonly clientInterceptors: Interceptor[];
}

/** A started service: its server and a close that also releases what the service owns. */
export interface RunningService {
  readonly name: string;
  readonly server: ServerHandle;
  /** Graceful: drains the server (see ServerHandle.close), then frees models, clients, stores. */
  close(graceMs?: number): Promise<void>;
}
