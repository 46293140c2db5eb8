import type { DescMethod, DescService } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createContextValues,
  createServiceImplSpec,
  type Interceptor,
  type MethodImplSpec,
  type ServiceImpl,
} from '@connectrpc/connect';

import { InFlight } from './in-flight';
import { PEER_ADDRESS } from './peer-address';

/**
 * A server's services as this process can call them directly: every method's implementation,
 * the server's own interceptors, and its lifecycle (calls are counted, and refused once it
 * drains, as HTTP/2 refuses streams after GOAWAY).
 */
export interface InProcessEndpoint {
  /** `package.Service/Method` → implementation. */
  readonly methods: ReadonlyMap<string, MethodImplSpec>;
  /** The server's interceptors, outermost first (tracing, metrics, shutdown errors). */
  readonly interceptors: readonly Interceptor[];
  /** Aborts every call's context when the server's grace period is over. */
  readonly shutdownSignal: AbortSignal;
  /** A call starts: returns its end. @throws UNAVAILABLE while the server drains. */
  enter(): () => void;
}

let enabled = false;
const endpoints = new Map<string, InProcessEndpoint>();

/**
 * Lets services that share this process call each other directly instead of over loopback
 * HTTP/2 (`npm start` runs all five in one process). A call then costs what its handlers and
 * interceptors cost: no framing, no protobuf encoding, no sockets, and the same tracing,
 * metrics, deadlines, cancellation and draining. Off unless the process asks for it: servers
 * started in tests keep being reached over the network.
 */
export function enableInProcessCalls(on = true): void {
  enabled = on;
  if (!on) endpoints.clear();
}

/** Registers a server's endpoint under its base URL; returns the unregistration. No-op unless enabled. */
export function registerInProcess(url: string, endpoint: InProcessEndpoint): () => void {
  if (!enabled) return () => undefined;
  endpoints.set(url, endpoint);
  return () => {
    if (endpoints.get(url) === endpoint) endpoints.delete(url);
  };
}

/** The endpoint served at `url` by this process, if any. */
export function inProcessEndpoint(url: string): InProcessEndpoint | undefined {
  return enabled ? endpoints.get(url) : undefined;
}

/** What `router.service()` / `router.rpc()` were given, so a server can register them in process. */
export function recordingRouter(router: ConnectRouter, methods: Map<string, MethodImplSpec>): ConnectRouter {
  const add = (spec: MethodImplSpec) => methods.set(`${spec.method.parent.typeName}/${spec.method.name}`, spec);
  return new Proxy(router, {
    get(target, prop, receiver) {
      if (prop === 'service') {
        return (service: DescService, impl: Partial<ServiceImpl<DescService>>, options?: unknown) => {
          for (const spec of Object.values(createServiceImplSpec(service, impl).methods)) add(spec);
          (target.service as (...a: unknown[]) => ConnectRouter)(service, impl, options);
          // This proxy, not the router: a chained `.service(a).service(b)` records b too.
          return receiver as ConnectRouter;
        };
      }
      if (prop === 'rpc') {
        return (method: DescMethod, impl: unknown, options?: unknown) => {
          add({ kind: method.methodKind, method, impl } as MethodImplSpec);
          (target.rpc as (...a: unknown[]) => ConnectRouter)(method, impl, options);
          return receiver as ConnectRouter;
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

/** Counts in-process calls of one server; draining refuses new ones and waits for the rest. */
export class InProcessCalls {
  private readonly calls = new InFlight();
  private draining = false;

  enter(): () => void {
    if (this.draining) throw new ConnectError('server is shutting down', Code.Unavailable);
    return this.calls.enter();
  }

  /** Refuses new calls; resolves once none is in flight. */
  drain(): Promise<void> {
    this.draining = true;
    return this.calls.idle();
  }

  get inFlight(): number {
    return this.calls.size;
  }
}

/** The context values an in-process call starts with on the server side. */
export function inProcessContextValues() {
  return createContextValues().set(PEER_ADDRESS, 'in-process');
}
