import { GenerationService } from '@tokenmesh/proto';
import { ServingStatus, startService, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import type { InferenceConfig } from './config';
import { ModelRepo } from './model-repo';
import { generationService } from './service';
import { warmUp } from './warm-up';

/** Loads every configured model in its worker thread, warms them up, then reports SERVING. */
export async function start(config: InferenceConfig, rt: ServiceRuntime): Promise<RunningService> {
  const repo = await ModelRepo.load(
    config.models,
    { intraOpThreads: config.intraOpThreads, executionProviders: config.executionProviders, workersPerModel: config.workersPerModel },
    config.limits,
    rt.metrics,
  );
  for (const m of repo.models) {
    rt.logger.info('model loaded', { model: m.id, dir: m.entry.dir, execution_provider: m.runners[0]!.executionProvider, worker_threads: m.runners.length, context_length: m.spec.contextLength });
  }
  const service = await startService(
    {
      name: 'inference',
      listen: config,
      routes: (r) => r.service(GenerationService, generationService(repo, config.workerId)),
      serving: false,
      release: () => repo.close(),
    },
    rt,
  );
  try {
    await warmUp(repo);
  } catch (err) {
    await service.close(0);
    throw err;
  }
  service.server.health.setAll(ServingStatus.SERVING);
  return service;
}
