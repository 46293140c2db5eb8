import { loadConfig as feedbackConfig, start as startFeedback } from '@tokenmesh/feedback';
import { loadConfig as gatewayConfig, start as startGateway } from '@tokenmesh/gateway';
import { loadConfig as inferenceConfig, start as startInference } from '@tokenmesh/inference';
import { loadConfig as routerConfig, start as startRouter } from '@tokenmesh/router';
import { connectBus, MemoryBroker, type Bus } from '@tokenmesh/bus';
import { enableInProcessCalls, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import { MemoryStore, RedisStore, type Store } from '@tokenmesh/store';
import { loadConfig as tokenizerConfig, start as startTokenizer } from '@tokenmesh/tokenizer-service';

/** The five services running in this process, in start order. */
export interface Mesh {
  readonly services: readonly RunningService[];
  get(name: string): RunningService;
  /** Stops in reverse order: the gateway drains its clients' streams first. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts every service from one environment (each reads its own variables), wiring their URLs
 * to one another. Without REDIS_URL they share one in-memory store, without NATS_URL one
 * in-process message broker. `runtime(name)` supplies each service's logger, metrics and
 * interceptors.
 */
export async function startMesh(env: NodeJS.ProcessEnv, runtime: (service: string) => ServiceRuntime): Promise<Mesh> {
  // The services call each other's handlers directly (still through every interceptor): a
  // loopback HTTP/2 hop would only cost framing and encoding on the one thread they share.
  enableInProcessCalls();
  const started: RunningService[] = [];
  const { redisUrl, natsUrl } = feedbackConfig(env);
  const store: Store = redisUrl ? await RedisStore.connect(redisUrl) : new MemoryStore();
  const broker = new MemoryBroker();
  const buses: Bus[] = [];
  const bus = async (name: string) => {
    const b = await connectBus(natsUrl, { name, broker });
    buses.push(b);
    return b;
  };
  const close = async (graceMs?: number) => {
    for (const s of [...started].reverse()) await s.close(graceMs);
    await Promise.all(buses.map((b) => b.close()));
    await store.close();
  };
  try {
    const add = (s: RunningService) => (started.push(s), s);
    const tokenizer = add(await startTokenizer(tokenizerConfig(env), runtime('tokenizer')));
    const inference = add(await startInference(inferenceConfig(env), runtime('inference'), { bus: await bus('inference') }));
    const feedback = add(await startFeedback(feedbackConfig(env), runtime('feedback'), { store, bus: await bus('feedback') }));
    // The static URL serves until the worker's first heartbeat (same address) replaces it.
    const router = add(await startRouter(routerConfig({ ...env, ROUTER_WORKERS: env['ROUTER_WORKERS'] ?? inference.server.url }), runtime('router'), { bus: await bus('router') }));
    add(
      await startGateway(
        gatewayConfig({
          ...env,
          GATEWAY_TOKENIZER_URL: tokenizer.server.url,
          // Same files as the tokenizer service: encode and detokenize without the hop.
          GATEWAY_LOCAL_TOKENIZERS: env['GATEWAY_LOCAL_TOKENIZERS'] ?? tokenizerConfig(env).modelDirs.join(','),
          GATEWAY_ROUTER_URL: router.server.url,
          GATEWAY_FEEDBACK_URL: feedback.server.url,
        }),
        runtime('gateway'),
        { store, bus: await bus('gateway') },
      ),
    );
  } catch (err) {
    await close(0);
    throw err;
  }
  return {
    services: started,
    get: (name) => started.find((s) => s.name === name) ?? (() => { throw new Error(`no service ${name}`); })(),
    close,
  };
}
