import { type Bus, connectBus, MemoryBroker } from '@tokenmesh/bus';
import { loadConfig as feedbackConfig } from '@tokenmesh/feedback';
import { buildMesh } from '@tokenmesh/mesh';
import { enableInProcessCalls, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import { MemoryStore, RedisStore, type Store } from '@tokenmesh/store';

import { inProcessLauncher } from './in-process-launcher';

/** The six services running in this process, in start order. */
export interface Mesh {
  readonly services: readonly RunningService[];
  get(name: string): RunningService;
  /** Stops in reverse order: the gateway drains its clients' streams first. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts every service from one environment (each reads its own variables), wired to one another
 * as `buildMesh` wires any mesh. Without REDIS_URL they share one in-memory store, without
 * NATS_URL one in-process message broker. `runtime(name)` supplies each service's logger,
 * metrics and interceptors.
 */
export async function startMesh(env: NodeJS.ProcessEnv, runtime: (service: string) => ServiceRuntime): Promise<Mesh> {
  // The services call each other's handlers directly (still through every interceptor): a
  // loopback HTTP/2 hop would only cost framing and encoding on the one thread they share.
  enableInProcessCalls();
  const { redisUrl, natsUrl } = feedbackConfig(env);
  const store: Store = redisUrl ? await RedisStore.connect(redisUrl) : new MemoryStore();
  const broker = new MemoryBroker();
  const buses: Bus[] = [];
  const bus = async (name: string) => {
    const b = await connectBus(natsUrl, { name, broker });
    buses.push(b);
    return b;
  };
  const closeShared = async () => {
    await Promise.all(buses.map((b) => b.close()));
    await store.close();
  };
  let mesh;
  try {
    mesh = await buildMesh(inProcessLauncher({ runtime, store, bus }), { env, batch: true });
  } catch (err) {
    await closeShared();
    throw err;
  }
  const { all, stop } = mesh;
  return {
    services: all,
    get: (name) =>
      all.find((s) => s.name === name) ??
      (() => {
        throw new Error(`no service ${name}`);
      })(),
    close: async (graceMs) => {
      await stop(graceMs);
      await closeShared();
    },
  };
}
