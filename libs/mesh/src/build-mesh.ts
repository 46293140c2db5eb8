import { randomBytes } from 'node:crypto';

/** The services of a mesh. */
export type MeshServiceName = 'tokenizer' | 'inference' | 'feedback' | 'router' | 'gateway' | 'batch';

/** Environment variables, as every service's loadConfig reads them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Starts and stops the services of a mesh: in this process (`npm start`), or each as its own process (tests, benchmarks). */
export interface MeshLauncher<S> {
  /** Starts one service with `env`: every variable it reads, the addresses of the services it calls included. */
  start(name: MeshServiceName, env: Env): Promise<S>;
  /** Where the other services reach it: its HTTP/2 base URL. */
  url(service: S): string;
  /** Its HTTP/1.1 base URL (the gateway's REST API, which batch lines are sent to). */
  httpUrl(service: S): string;
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
  /** Start the batch service behind the gateway (npm start does). Default false. */
  readonly batch?: boolean;
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
  readonly batch?: S;
  /** In start order: tokenizer, inference, feedback, router, gateway, batch. */
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
 * The batch service's credential at the gateway: one token for both unless given (as either
 * BATCH_GATEWAY_TOKEN or GATEWAY_BATCH_TOKEN), and a random one when the gateway has API keys
 * and none was given, so batches run as their owners without an operator choosing a secret.
 */
export function batchToken(env: Env): Env {
  const given = env['BATCH_GATEWAY_TOKEN'] ?? env['GATEWAY_BATCH_TOKEN'];
  const keys = (env['GATEWAY_API_KEYS'] ?? 'none') !== 'none' || env['GATEWAY_API_KEYS_FILE'] !== undefined;
  const token = given ?? (keys ? randomBytes(24).toString('base64url') : undefined);
  return token === undefined ? env : { ...env, BATCH_GATEWAY_TOKEN: token, GATEWAY_BATCH_TOKEN: token };
}

/** The batch service's environment: the gateway's REST address. */
export function batchEnv(env: Env, gatewayHttpUrl: string): Env {
  return { ...env, BATCH_GATEWAY_URL: gatewayHttpUrl };
}

/**
 * Starts a mesh with `launcher`: tokenizer, inference and feedback, then the router in front of
 * the inference service, then the gateway in front of the tokenizer, the router and feedback.
 * When a service fails to start, the ones already started are stopped and the error is thrown.
 */
export async function buildMesh<S>(launcher: MeshLauncher<S>, spec: MeshSpec = {}): Promise<Mesh<S>> {
  const env = spec.batch ? batchToken(spec.env ?? {}) : (spec.env ?? {});
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
    const batch = spec.batch && gateway !== undefined ? await start('batch', batchEnv(env, launcher.httpUrl(gateway))) : undefined;
    const all = [
      tokenizer!,
      inference!,
      ...(feedback === undefined ? [] : [feedback]),
      router,
      ...(gateway === undefined ? [] : [gateway]),
      ...(batch === undefined ? [] : [batch]),
    ];
    return {
      tokenizer: tokenizer!,
      inference: inference!,
      router,
      ...(feedback === undefined ? {} : { feedback }),
      ...(gateway === undefined ? {} : { gateway }),
      ...(batch === undefined ? {} : { batch }),
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
