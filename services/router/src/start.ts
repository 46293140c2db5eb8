import { createClient } from '@connectrpc/connect';
import { type Bus, connectBus, hasConnectionStatus, type Unsubscribe } from '@tokenmesh/bus';
import { AdapterService, GenerationService, ModelControlService, TrafficService } from '@tokenmesh/proto';
import { createServiceClient, rpcServerOutcomes, type RunningService, type ServiceRuntime, startService } from '@tokenmesh/server';

import { adapterFanout } from './adapters/adapter-fanout';
import { modelControlFanout } from './admin/model-control-fanout';
import { createBalancer } from './balancers';
import type { RouterConfig } from './config';
import { discoverWorkers, monitorWorker, OutlierDetector, RetryBudget, WorkerPool } from './pool';
import { generateRelay } from './relay/generate-relay';
import { RouterMetrics } from './router-metrics';
import { type BusState, routerStatus, statusRoute } from './router-status';
import { ShadowRunner, TrafficRouter } from './routing';
import { routerService } from './service';
import { loadTrafficConfig, trafficService, TrafficState, watchTrafficConfig } from './traffic';

/** Largest message the frame relay takes from a caller or passes on from a worker (a long non-streamed answer with logprobs). */
const RELAY_MAX_BYTES = 64 * 1024 * 1024;

export interface RouterDeps {
  /** Shared with other services in one process (npm start); owned by the caller. */
  readonly bus?: Bus;
}

/**
 * Serves GenerationService in front of the worker pool: static workers from ROUTER_WORKERS plus
 * those discovered by heartbeat on the bus (the given one, or NATS_URL), each health-watched;
 * traffic splits from ROUTER_CONFIG_FILE, reloaded on change.
 */
export async function start(config: RouterConfig, rt: ServiceRuntime, deps: RouterDeps = {}): Promise<RunningService> {
  const { logger } = rt;
  const clients = new Map<string, ReturnType<typeof createServiceClient<typeof GenerationService>>>();
  const pool: WorkerPool = new WorkerPool({
    connect: (address) => {
      const c = createServiceClient(GenerationService, address, { interceptors: rt.clientInterceptors });
      clients.set(address, c);
      return {
        client: c.client,
        adapters: createClient(AdapterService, c.transport),
        control: createClient(ModelControlService, c.transport),
        session: c.session,
        close: () => (c.close(), clients.delete(address)),
      };
    },
    heartbeatMs: config.heartbeatMs,
    missedBeats: config.missedHeartbeats,
    outliers: new OutlierDetector({
      consecutiveFailures: config.ejectionFailures,
      baseEjectionMs: config.ejectionBaseMs,
      maxEjectedFraction: config.maxEjectedPercent / 100,
    }),
    attach: (w) => monitorWorker(w, clients.get(w.address)!.transport, { onHealth: (x, healthy) => logger.info('worker health', { worker: x.id, healthy }) }),
    onEvent: (event, w) =>
      logger.info(`worker ${event}`, { worker: w.id, address: w.address, models: w.announcement.models, weight: w.weight, ejections: w.outlier.ejections }),
  });
  let bus: Bus | undefined;
  const busState = (): BusState => (!bus ? 'none' : !hasConnectionStatus(bus) || bus.connected ? 'connected' : 'disconnected');
  const metrics = new RouterMetrics(rt.metrics, pool, busState);
  for (const url of config.workers) pool.addStatic(url);

  const traffic = new TrafficState();
  const watcher = config.trafficConfigFile
    ? watchTrafficConfig(
        config.trafficConfigFile,
        (c) => {
          traffic.setFile(c);
          metrics.reloads.inc({ outcome: 'ok' });
          logger.info('traffic config reloaded', { file: config.trafficConfigFile, models: [...c.models.keys()] });
        },
        (err) => {
          metrics.reloads.inc({ outcome: 'error' });
          logger.error('traffic config rejected; keeping the previous one', { file: config.trafficConfigFile, err });
        },
        { intervalMs: config.trafficConfigPollMs },
      )
    : undefined;
  // Loaded after the watcher starts, so an edit in between is not missed.
  if (config.trafficConfigFile) traffic.setFile(loadTrafficConfig(config.trafficConfigFile));

  const shadows = new ShadowRunner({ pool, balancer: createBalancer('p2c'), metrics, logger, maxInFlight: config.shadowMaxInFlight });
  const router = new TrafficRouter({
    pool,
    defaultStrategy: config.strategy,
    plan: () => traffic.plan,
    metrics,
    budget: new RetryBudget(config.retryBudget),
    shadows,
  });

  const ownedBus = deps.bus || !config.natsUrl ? undefined : await connectBus(config.natsUrl, { name: 'router' });
  bus = deps.bus ?? ownedBus;
  let stopDiscovery: Unsubscribe | undefined;
  let stopBusWatch: (() => void) | undefined;
  if (bus && hasConnectionStatus(bus)) {
    // No heartbeats while the bus is down says nothing about the workers: keep the health-watched ones.
    pool.heartbeatsFlowing(bus.connected);
    stopBusWatch = bus.onConnectionChange((connected) => {
      pool.heartbeatsFlowing(connected);
      if (connected) logger.info('bus reconnected; worker heartbeats resume');
      else logger.warn('bus disconnected; keeping workers whose health watch is SERVING until heartbeats resume');
    });
  }
  const release = async () => {
    stopBusWatch?.();
    stopDiscovery?.();
    watcher?.close();
    shadows.close();
    pool.close();
    await ownedBus?.close();
  };
  try {
    if (bus) stopDiscovery = await discoverWorkers(bus, pool, config.heartbeatMs, (err) => logger.warn('bad worker heartbeat', { err }));
    const service = await startService(
      {
        name: 'router',
        listen: config,
        routes: (r) =>
          r
            .service(
              GenerationService,
              routerService(pool, router, () => traffic.plan),
            )
            .service(AdapterService, adapterFanout(pool))
            .service(ModelControlService, modelControlFanout(pool))
            .service(
              TrafficService,
              trafficService(traffic, {
                adminToken: config.adminToken,
                onChange: (before, after) =>
                  logger.info('traffic split changed at run time', {
                    model: after.model,
                    before: before.split?.variants ?? null,
                    after: after.split?.variants ?? null,
                  }),
              }),
            ),
        http: statusRoute(pool, busState),
        // gRPC callers' Generate bypasses Connect: worker frames are relayed undecoded.
        preHandler: config.frameRelay
          ? generateRelay({ router, tracer: rt.tracer, outcomes: rpcServerOutcomes(rt.metrics), maxBytes: RELAY_MAX_BYTES })
          : undefined,
        readyDetail: () => ({ ...routerStatus(pool, busState) }),
        release,
      },
      rt,
    );
    logger.info('routing', {
      static_workers: config.workers,
      discovery: bus ? (deps.bus ? 'shared bus' : 'nats') : 'off',
      strategy: config.strategy,
      traffic_config: config.trafficConfigFile ?? null,
    });
    return service;
  } catch (err) {
    await release();
    throw err;
  }
}
