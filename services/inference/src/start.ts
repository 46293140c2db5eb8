import { GenerationService } from '@tokenmesh/proto';
import { ServingStatus, startServer, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import type { InferenceConfig } from './config';
import { ModelRepo } from './model-repo';
import { generationService } from './service';
import { warmUp } from './warm-up';

/** Loads every configured model in its worker thread, warms them up, then reports SERVING. */
export async function start(config: InferenceConfig, rt: ServiceRuntime): Promise<RunningService> {
  const repo = await ModelRepo.load(config.models, { intraOpThreads: config.intraOpThreads, executionProviders: config.executionProviders });
  for (const m of repo.models) {
    rt.logger.info('model loaded', { model: m.id, dir: m.entry.dir, execution_provider: m.runner.executionProvider, context_length: m.spec.contextLength });
  }
  let server;
  try {
    server = await startServer({
      routes: (r) => r.service(GenerationService, generationService(repo, config.workerId)),
      host: config.host,
      port: config.port,
      http1Port: config.httpPort,
      interceptors: rt.serverInterceptors,
      logger: rt.logger,
      metrics: rt.metrics,
      serving: false,
    });
    await warmUp(repo);
  } catch (err) {
    await server?.close(0);
    await repo.close();
    throw err;
  }
  server.health.setAll(ServingStatus.SERVING);
  const running = server;
  return {
    name: 'inference',
    server,
    async close(grace) {
      await running.close(grace);
      await repo.close();
    },
  };
}
