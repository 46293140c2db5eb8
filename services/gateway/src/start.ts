import { createClient } from '@connectrpc/connect';
import { BATCH_STREAMS, BatchStore, FILES_BUCKET, FileStore } from '@tokenmesh/batch';
import { type Bus, connectBus, eventOutbox, EVENTS_STREAM } from '@tokenmesh/bus';
import {
  AdapterService,
  FeedbackService,
  GenerationService,
  InferenceService,
  ModelControlService,
  ModelRegistryService,
  TokenizerService,
  TrafficService,
} from '@tokenmesh/proto';
import {
  createServiceClient,
  framedServerStream,
  type PreHandler,
  rpcServerOutcomes,
  type RunningService,
  type ServiceRuntime,
  startService,
} from '@tokenmesh/server';
import { MemoryStore, RedisStore, type Store } from '@tokenmesh/store';
import { TokenizerRepo } from '@tokenmesh/tokenizer';

import { feedbackService } from './api/grpc/feedback-api';
import { inferenceService } from './api/grpc/inference-api';
import { streamPredictFrames } from './api/grpc/stream-predict-frames';
import { restApi } from './api/rest/rest-api';
import { restMetrics } from './api/rest/rest-metrics';
import { startIdempotentReplays, startResponseCache } from './cache/start-cache';
import type { GatewayConfig } from './config';
import { authInterceptor } from './edge/auth/auth-interceptor';
import { startAuth } from './edge/auth/start-auth';
import { corsHandler } from './edge/cors';
import { EdgeAdmission } from './edge/edge-admission';
import { startRateLimiter } from './edge/rate-limit/start-rate-limiter';
import { watchReadiness } from './edge/readiness';
import { SaturationGate } from './edge/saturation-gate';
import { shedCounter } from './edge/saturation-metrics';
import { completionPublisher, type CompletionRecord } from './pipeline/completion-events';
import { IssuedRequests } from './pipeline/issued-requests';
import { localDecoders, localFirstTokenizer } from './pipeline/local-tokenizer';
import { routerCatalog } from './pipeline/served-model-catalog';
import { playgroundHandler } from './playground/playground-route';
import { RegistryHistory } from './registry/registry-history';
import { registryOps, registryService } from './registry/registry-service';

/** Largest message taken from the router: a long non-streamed answer with logprobs. */
const ROUTER_MAX_BYTES = 64 * 1024 * 1024;

/** CORS first (it only adds headers unless it answers a preflight), then the gRPC fast path. */
function preHandlers(...handlers: (PreHandler | undefined)[]): PreHandler | undefined {
  const present = handlers.filter((h) => h !== undefined);
  if (present.length === 0) return undefined;
  return (req, res, shutdown) => present.some((h) => h(req, res, shutdown));
}

/**
 * The edge: InferenceService over gRPC, Connect and gRPC-Web on HTTP/2 (grpcPort) and the same
 * plus the REST API on HTTP/1.1 (httpPort). Ready once the router's pool serves a model.
 */
export interface GatewayDeps {
  /** A bus shared with other services in one process (npm start); owned by the caller. */
  readonly bus?: Bus;
  /** A store shared with other services in one process (rate limits); owned by the caller. */
  readonly store?: Store;
}

export async function start(config: GatewayConfig, rt: ServiceRuntime, deps: GatewayDeps = {}): Promise<RunningService> {
  // First: a bad directory fails the start before anything is opened.
  const local = config.localTokenizers.length > 0 ? await TokenizerRepo.load(config.localTokenizers) : undefined;
  // What has been opened so far, closed newest first: by release, or at once when a later step fails.
  const opened: (() => Promise<void> | void)[] = [];
  const closeOpened = async () => {
    for (const close of opened.splice(0).reverse()) await close();
  };
  try {
    const owned = deps.bus ? undefined : await connectBus(config.natsUrl, { name: 'gateway' });
    if (owned) opened.push(() => owned.close());
    const bus = deps.bus ?? owned!;
    await bus.ensureStream(EVENTS_STREAM);
    for (const s of BATCH_STREAMS) await bus.ensureStream(s);
    const files = new FileStore(() => bus.objectBucket(FILES_BUCKET));
    // Completion events wait here while NATS is away; closed (flushed within a grace) before the bus.
    const outbox = eventOutbox(bus, { metrics: rt.metrics, logger: rt.logger, spoolDir: config.outboxDir, name: 'gateway' });
    opened.push(async () => void (await outbox.close()));
    // One store for rate limits and the response cache: the caller's (npm start), else Redis at
    // REDIS_URL (shared by every replica; commands give up after 1 s), else this process's memory.
    const ownedStore = deps.store ? undefined : config.redisUrl ? await RedisStore.connect(config.redisUrl, { commandTimeoutMs: 1000 }) : new MemoryStore();
    if (ownedStore) opened.push(() => ownedStore.close());
    const store = deps.store ?? ownedStore!;
    // API keys from a file, or from the same store (GATEWAY_API_KEYS=redis needs REDIS_URL).
    const auth = await startAuth(config.apiKeys, rt.logger, store);
    opened.push(() => auth.close());
    const limits = await startRateLimiter(config, rt, store);
    opened.push(() => limits.close());
    // Shared through the store, so any replica takes feedback for any replica's completions.
    const issued = new IssuedRequests(store, { logger: rt.logger, breaker: config.storeBreaker, metrics: rt.metrics });
    const publish = completionPublisher(outbox, rt.tracer);
    const opts = { interceptors: rt.clientInterceptors };
    const tokenizer = createServiceClient(TokenizerService, config.tokenizerUrl, opts);
    const router = createServiceClient(GenerationService, config.routerUrl, opts);
    const feedback = createServiceClient(FeedbackService, config.feedbackUrl, opts);
    opened.push(() => [tokenizer, router, feedback].forEach((c) => c.close()));
    if (local) rt.logger.info('tokenizers in the gateway', { models: local.names });
    // Every token of every generation passes through this call's stream.
    const routerClient = config.framedRouterCalls
      ? {
          ...router.client,
          generate: framedServerStream(router, GenerationService.method.generate, router.client.generate, {
            tracer: rt.tracer,
            maxBytes: ROUTER_MAX_BYTES,
            peer: 'the router',
          }),
        }
      : router.client;
    // One list of what the router serves: readiness polls it, the cache and the model lists read it.
    const catalog = routerCatalog(router.client);
    const shed = shedCounter(rt.metrics);
    const upstreams = {
      tokenizer: local ? localFirstTokenizer(tokenizer.client, local) : tokenizer.client,
      localDecoder: local ? localDecoders(local) : undefined,
      router: routerClient,
      catalog,
      defaultModel: config.defaultModel,
      completions: (r: CompletionRecord) => {
        issued.remember(r);
        publish(r);
      },
      answeredFromCache: (r: Pick<CompletionRecord, 'requestId' | 'model' | 'variant'>) => issued.remember(r),
      limiter: limits.limiter,
      cache: startResponseCache(config, rt, store, router.client, catalog),
      replays: startIdempotentReplays(config, rt, store, catalog),
      saturation: new SaturationGate(config.shedWindowMs, shed('saturated')),
      admission: config.edgeAdmission ? new EdgeAdmission(() => catalog.known, shed('capacity')) : undefined,
    };
    const registry = registryOps({
      control: createClient(ModelControlService, router.transport),
      traffic: createClient(TrafficService, router.transport),
      history: new RegistryHistory(store),
      changed: () => catalog.refresh().then(() => undefined),
    });
    // One observer: prom-client registers each metric once, and the page's requests count beside the API's.
    const observe = restMetrics(rt.metrics);
    const rest = restApi({
      upstreams,
      feedback: feedback.client,
      issued,
      bodyLimitBytes: config.bodyLimitBytes,
      auth,
      requestTimeoutMs: config.requestTimeoutMs,
      observe,
      logger: rt.logger,
      adapters: createClient(AdapterService, router.transport),
      registry,
      files: { files, fileLimitBytes: config.fileLimitBytes, maxBatchLines: config.maxBatchLines },
      batches: {
        bus,
        batches: new BatchStore(bus),
        files,
        bodyLimitBytes: config.bodyLimitBytes,
        maxBatchLines: config.maxBatchLines,
        ...(config.apiKeys.source !== 'none' &&
          !config.batchToken && { unavailable: 'batches need GATEWAY_BATCH_TOKEN (the batch service runs each line as its owner) when API keys are on' }),
      },
      ...(config.batchToken && { batchToken: config.batchToken }),
    });
    const playground = config.playground
      ? playgroundHandler(
          { apiKeys: config.apiKeys.source !== 'none', ...(config.jaegerUrl && { jaegerUrl: config.jaegerUrl }) },
          { logger: rt.logger, observe },
        )
      : undefined;
    const service = await startService(
      {
        name: 'gateway',
        listen: { host: config.host, port: config.grpcPort, httpPort: config.httpPort },
        routes: (r) =>
          r
            .service(InferenceService, inferenceService(upstreams, { requestTimeoutMs: config.requestTimeoutMs }))
            .service(FeedbackService, feedbackService(feedback.client, issued))
            .service(ModelRegistryService, registryService(registry)),
        // The page is public (it holds no data); what it calls is authenticated as any client.
        http: playground ? (req, res) => void (playground(req, res) || rest(req, res)) : rest,
        http1Timeouts: { headersTimeoutMs: config.headersTimeoutMs, requestTimeoutMs: config.requestTimeoutMs },
        preHandler: preHandlers(
          corsHandler(config.corsOrigins),
          config.framedStreamPredict
            ? streamPredictFrames(upstreams, auth, {
                requestTimeoutMs: config.requestTimeoutMs,
                tracer: rt.tracer,
                outcomes: rpcServerOutcomes(rt.metrics),
                maxBytes: config.bodyLimitBytes,
              })
            : undefined,
        ),
        // GATEWAY_BODY_LIMIT_BYTES for RPC messages too (RESOURCE_EXHAUSTED), as for REST bodies (413).
        router: { readMaxBytes: config.bodyLimitBytes },
        serving: false,
        release: closeOpened,
      },
      // Authentication innermost: refused calls are still traced and counted.
      { ...rt, serverInterceptors: [...rt.serverInterceptors, authInterceptor(auth)] },
    );
    opened.push(watchReadiness(catalog, service.server.health));
    return service;
  } catch (err) {
    await closeOpened();
    throw err;
  }
}
