/** The services of a mesh. */
export type MeshServiceName = 'tokenizer' | 'inference' | 'feedback' | 'router' | 'gateway';

/** Environment variables, as every service's loadConfig reads them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Starts and stops the services of a mesh: in this process (`npm start`), or each as its own process (tests, benchmarks). */
export interface MeshLauncher<S> {
  /** Starts one service with `env`: every variable it reads, the addresses of the services it calls included. */
  start(name: MeshServiceName, env: Env): Promise<S>;
  /** Where the other services reach it: its HTTP/2 base URL. */
  url(service: S): string;
  /** Stops it gracefully; `graceMs` bounds the drain where the launcher can. */
  stop(service: S, graceMs?: number): Promise<unknown>;
}

export interface MeshSpec {
  /** Every service's environment; each reads its own variables. */
  readonly env?: Env;
  /** Start the feedback service; without it the gateway's GATEWAY_FEEDBACK_URL is what `env` says. Default true. */
  readonly feedback?: boolean;
  /** Start the gateway; without it, the mesh is the gateway's upstreams (for a gateway under test). Default true. */
  readonly gateway?: boolean;
  /**
   * Start the services that call none of the others (tokenizer, inference, feedback) at the same time, and stop all at once.
   * Default false: one by one, in order.
   */
  readonly concurrently?: boolean;
}

/** A started mesh. */
export interface Mesh<S> {
  readonly tokenizer: S;
  readonly inference: S;
  readonly router: S;
  readonly feedback?: S;
  readonly gateway?: S;
  /** In start order: tokenizer, inference, feedback, router, gateway. */
  readonly all: readonly S[];
  /** Stops every service, the gateway first: it drains its clients' streams while its upstreams still answer. */
  stop(graceMs?: number): Promise<void>;
}

/** The router's environment: its static worker is the inference service (whose first heartbeat, same address, replaces the static entry). */
export function routerEnv(env: Env, inferenceUrl: string): Env {
  // One operators' token for the whole mesh unless the router is given its own.
  const token = env['ROUTER_ADMIN_TOKEN'] ?? env['INFERENCE_ADMIN_TOKEN'];
  return { ...env, ROUTER_WORKERS: env['ROUTER_WORKERS'] ?? inferenceUrl, ...(token !== undefined && { ROUTER_ADMIN_TOKEN: token }) };
}

/** The gateway's environment: the addresses of the services it calls; without a feedback service, GATEWAY_FEEDBACK_URL stays as `env` has it. */
export function gatewayEnv(env: Env, upstreams: { readonly tokenizer: string; readonly router: string; readonly feedback?: string }): Env {
  return {
    ...env,
    GATEWAY_TOKENIZER_URL: upstreams.tokenizer,
    GATEWAY_ROUTER_URL: upstreams.router,
    ...(upstreams.feedback === undefined ? {} : { GATEWAY_FEEDBACK_URL: upstreams.feedback }),
  };
}

/**
 * Starts a mesh with `launcher`: tokenizer, inference and feedback, then the router in front of
 * the inference service, then the gateway in front of the tokenizer, the router and feedback.
 * When a service fails to start, the ones already started are stopped and the error is thrown.
 */
export async function buildMesh<S>(launcher: MeshLauncher<S>, spec: MeshSpec = {}): Promise<Mesh<S>> {
  const env = spec.env ?? {};
  const started: S[] = [];
  const stop = async (graceMs?: number) => {
    const newestFirst = started.splice(0).reverse();
    if (spec.concurrently) await Promise.all(newestFirst.map((s) => launcher.stop(s, graceMs)));
    else for (const s of newestFirst) await launcher.stop(s, graceMs);
  };
  const start = async (name: MeshServiceName, e: Env): Promise<S> => {
    const s = await launcher.start(name, e);
    started.push(s);
    return s;
  };
  try {
    const first: MeshServiceName[] = spec.feedback === false ? ['tokenizer', 'inference'] : ['tokenizer', 'inference', 'feedback'];
    const [tokenizer, inference, feedback] = spec.concurrently ? await allStarted(first.map((n) => start(n, env))) : await inOrder(first, (n) => start(n, env));
    const router = await start('router', routerEnv(env, launcher.url(inference!)));
    const upstreams = {
      tokenizer: launcher.url(tokenizer!),
      router: launcher.url(router),
      ...(feedback === undefined ? {} : { feedback: launcher.url(feedback) }),
    };
    const gateway = spec.gateway === false ? undefined : await start('gateway', gatewayEnv(env, upstreams));
    const all = [tokenizer!, inference!, ...(feedback === undefined ? [] : [feedback]), router, ...(gateway === undefined ? [] : [gateway])];
    return {
      tokenizer: tokenizer!,
      inference: inference!,
      router,
      ...(feedback === undefined ? {} : { feedback }),
      ...(gateway === undefined ? {} : { gateway }),
      all,
      stop,
    };
  } catch (err) {
    await stop(0);
    throw err;
  }
}

async function inOrder<T>(names: readonly MeshServiceName[], start: (name: MeshServiceName) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (const n of names) out.push(await start(n));
  return out;
}

/** Waits for every start, so that none is still starting (and left running) when the first failure is thrown. */
async function allStarted<T>(starts: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(starts);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
