import { GenerationService } from '@tokenmesh/proto';
import { createServiceClient, startService, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import type { RouterConfig } from './config';
import { RoundRobin } from './round-robin';
import { routerService } from './service';

/** Serves GenerationService in front of the configured workers. */
export async function start(config: RouterConfig, rt: ServiceRuntime): Promise<RunningService> {
  const clients = config.workers.map((url) => ({ url, ...createServiceClient(GenerationService, url, { interceptors: rt.clientInterceptors }) }));
  const service = await startService(
    {
      name: 'router',
      listen: config,
      routes: (r) => r.service(GenerationService, routerService(new RoundRobin(clients.map((c) => ({ address: c.url, client: c.client }))))),
      release: () => clients.forEach((c) => c.close()),
    },
    rt,
  );
  rt.logger.info('routing to workers', { workers: config.workers });
  return service;
}
