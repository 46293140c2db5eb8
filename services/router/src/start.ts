import { GenerationService } from '@tokenmesh/proto';
import { createServiceClient, startServer, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import type { RouterConfig } from './config';
import { RoundRobin } from './round-robin';
import { routerService, type WorkerTarget } from './service';

/** Serves GenerationService in front of the configured workers. */
export async function start(config: RouterConfig, rt: ServiceRuntime): Promise<RunningService> {
  const clients = config.workers.map((url) => ({ url, ...createServiceClient(GenerationService, url, { interceptors: rt.clientInterceptors }) }));
  const targets: WorkerTarget[] = clients.map((c) => ({ address: c.url, client: c.client }));
  const closeClients = () => clients.forEach((c) => c.close());
  let server;
  try {
    server = await startServer({
      routes: (r) => r.service(GenerationService, routerService(new RoundRobin(targets))),
      host: config.host,
      port: config.port,
      http1Port: config.httpPort,
      interceptors: rt.serverInterceptors,
      logger: rt.logger,
      metrics: rt.metrics,
    });
  } catch (err) {
    closeClients();
    throw err;
  }
  rt.logger.info('routing to workers', { workers: config.workers });
  const running = server;
  return {
    name: 'router',
    server,
    async close(grace) {
      await running.close(grace);
      closeClients();
    },
  };
}
