import { hostname } from 'node:os';

import { type Bus, connectBus } from '@tokenmesh/bus';
import { AdapterService, GenerateResponseSchema, GenerationService, ModelControlService } from '@tokenmesh/proto';
import {
  framed,
  grpcStreamHandler,
  rpcServerOutcomes,
  type RunningService,
  type ServiceRuntime,
  servingLoad,
  ServingStatus,
  startService,
} from '@tokenmesh/server';

import type { InferenceConfig } from './config';
import { type Heartbeat, startHeartbeat } from './discovery/heartbeat';
import { type LoadedModel, ModelRepo } from './models/model-repo';
import { pollRepository, type RepositoryPoll } from './models/repository-poll';
import { warmUp } from './models/warm-up';
import { adapterService } from './rpc/adapter-service';
import { modelControlService } from './rpc/model-control-service';
import { generationService } from './rpc/service';
import { streamHold, watchServingLoad } from './rpc/stream-hold';

/** Largest Generate request taken from a gRPC caller (a prompt of token ids is a few KiB). */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** What a caller may share with the worker instead of letting it connect its own. */
export interface InferenceDeps {
  /** Heartbeats go here; owned by the caller. Default: NATS at NATS_URL, or no heartbeats. */
  readonly bus?: Bus;
}

/**
 * Loads every configured model in its worker thread, warms them up, then reports SERVING and,
 * when there is a bus, starts announcing itself in heartbeats. `close()` drains: the worker is
 * announced as draining and NOT_SERVING first, then stops accepting and lets open streams finish
 * (up to INFERENCE_DRAIN_MS), then stops the heartbeat and frees models and its own bus.
 */
export async function start(config: InferenceConfig, rt: ServiceRuntime, deps: InferenceDeps = {}): Promise<RunningService> {
  const repo = await ModelRepo.load(
    config.models,
    {
      intraOpThreads: config.intraOpThreads,
      executionProviders: config.executionProviders,
      workersPerModel: config.workersPerModel,
      stepDelayMs: config.stepDelayMs,
      decodeExport: config.decodeExport,
    },
    config.limits,
    rt.metrics,
    config.adapters,
  );
  for (const m of repo.models) {
    rt.logger.info('model loaded', {
      model: m.id,
      ...(m.adapter && { lora_adapter_of: m.adapter.parent, lora_slot: m.adapter.slot }),
      dir: m.entry.dir,
      execution_provider: m.runners[0]!.executionProvider,
      worker_threads: m.runners.length,
      context_length: m.spec.contextLength,
    });
  }
  if (config.stepDelayMs > 0) rt.logger.warn('artificial step delay: this worker is slowed down on purpose', { step_delay_ms: config.stepDelayMs });
  let ownedBus: Bus | undefined;
  if (!deps.bus && config.natsUrl) {
    ownedBus = await connectBus(config.natsUrl, { name: `inference-${config.workerId}` }).catch(async (err: unknown) => {
      await repo.close();
      throw err;
    });
  }
  const bus = deps.bus ?? ownedBus;
  let heartbeat: Heartbeat | undefined;
  let poll: RepositoryPoll | undefined;
  const modelChanged = (change: 'loaded' | 'unloaded', m: LoadedModel) =>
    rt.logger.info(`model ${change}`, { model: m.id, dir: m.entry.dir, worker_threads: m.runners.length, context_length: m.spec.contextLength });
  const load = servingLoad();
  const holdMs = streamHold(config.streamHoldMaxMs, load, () => repo.snapshot().running);
  watchServingLoad(rt.metrics, load, holdMs);
  const generation = generationService(repo, config.workerId, { holdMs });
  const service = await startService(
    {
      name: 'inference',
      listen: config,
      // gRPC callers' Generate (the router's) is served past Connect: one encode per message, no iterable layers.
      preHandler: grpcStreamHandler({
        method: GenerationService.method.generate,
        frames: (req, ctx) => framed(GenerateResponseSchema, generation.generate(req, ctx)),
        tracer: rt.tracer,
        outcomes: rpcServerOutcomes(rt.metrics),
        maxBytes: MAX_REQUEST_BYTES,
      }),
      routes: (r) =>
        r
          .service(GenerationService, generation)
          .service(
            AdapterService,
            adapterService(repo, config.workerId, {
              adminToken: config.adminToken,
              changed: () => heartbeat?.announce(),
              onChange: (change, m) =>
                rt.logger.info(`adapter ${change}`, { model: m.id, lora_adapter_of: m.adapter!.base, lora_slot: m.adapter!.slot, dir: m.entry.dir }),
            }),
          )
          .service(
            ModelControlService,
            modelControlService(repo, config.workerId, {
              repository: config.repository,
              adminToken: config.adminToken,
              changed: () => heartbeat?.announce(),
              onChange: modelChanged,
            }),
          ),
      serving: false,
      // After the server has drained: no stream is left to report on.
      release: async () => {
        await poll?.stop();
        heartbeat?.stop();
        await repo.close();
        await ownedBus?.close();
      },
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
  // Only now: a router that hears a beat may send traffic at once.
  if (bus) {
    const address = config.advertiseUrl ?? advertisedUrl(config.host, service.server.url);
    heartbeat = startHeartbeat({
      bus,
      workerId: config.workerId,
      address,
      weight: config.weight,
      periodMs: config.heartbeatMs,
      snapshot: () => repo.snapshot(),
      logger: rt.logger,
    });
    rt.logger.info('heartbeats started', { address, weight: config.weight, period_ms: config.heartbeatMs, bus: deps.bus ? 'shared' : 'nats' });
  }

  if (config.repositoryPollMs > 0) {
    poll = pollRepository(repo, {
      repository: config.repository,
      intervalMs: config.repositoryPollMs,
      changed: () => heartbeat?.announce(),
      onChange: modelChanged,
      onFailure: (e, err) => rt.logger.warn('new model version not loaded', { model: `${e.name}@${e.version}`, dir: e.dir, error: err.message }),
    });
    rt.logger.info('model repository polled', { repository: config.repository, interval_ms: config.repositoryPollMs });
  }

  let closing: Promise<void> | undefined;
  const close = async (graceMs: number): Promise<void> => {
    // Routers hear "draining" (heartbeat) and NOT_SERVING (health watch) while this worker still
    // accepts, so they stop picking it before its streams are refused rather than after.
    heartbeat?.drain();
    service.server.health.setAll(ServingStatus.NOT_SERVING);
    // The NATS client writes in a microtask and the server's GOAWAY goes out synchronously in
    // close(): one turn of the event loop puts the draining beat on the wire first.
    await new Promise<void>((r) => setImmediate(r));
    await service.close(graceMs);
  };
  return {
    name: service.name,
    server: service.server,
    close: (graceMs = config.drainMs) => (closing ??= close(graceMs)),
  };
}

/**
 * Bound to every interface, the server's own URL is a loopback one, unreachable from other hosts:
 * announce the host name instead. Docker resolves a container's host name (its short id) on the
 * compose network, so scaled replicas are told apart; in Kubernetes set INFERENCE_ADVERTISE_URL
 * from the pod IP.
 */
function advertisedUrl(host: string, url: string): string {
  if (host !== '0.0.0.0' && host !== '::') return url;
  const u = new URL(url);
  u.hostname = hostname();
  return u.origin;
}
