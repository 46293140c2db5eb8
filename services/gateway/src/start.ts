import { FeedbackService, GenerationService, InferenceService, TokenizerService } from '@tokenmesh/proto';
import { createServiceClient, startService, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import type { GatewayConfig } from './config';
import { inferenceService } from './inference-service';
import { watchReadiness } from './readiness';
import { restApi } from './rest/rest-api';

/**
 * The edge: InferenceService over gRPC, Connect and gRPC-Web on HTTP/2 (grpcPort) and the same
 * plus the REST API on HTTP/1.1 (httpPort). Ready once the router's pool serves a model.
 */
export async function start(config: GatewayConfig, rt: ServiceRuntime): Promise<RunningService> {
  const opts = { interceptors: rt.clientInterceptors };
  const tokenizer = createServiceClient(TokenizerService, config.tokenizerUrl, opts);
  const router = createServiceClient(GenerationService, config.routerUrl, opts);
  const feedback = createServiceClient(FeedbackService, config.feedbackUrl, opts);
  const closeClients = () => [tokenizer, router, feedback].forEach((c) => c.close());
  const upstreams = { tokenizer: tokenizer.client, router: router.client, defaultModel: config.defaultModel };
  let stopReadiness: (() => void) | undefined;
  const service = await startService(
    {
      name: 'gateway',
      listen: { host: config.host, port: config.grpcPort, httpPort: config.httpPort },
      routes: (r) => r.service(InferenceService, inferenceService(upstreams)),
      http: restApi({ upstreams, feedback: feedback.client, bodyLimitBytes: config.bodyLimitBytes }),
      serving: false,
      release: () => {
        stopReadiness?.();
        closeClients();
      },
    },
    rt,
  );
  stopReadiness = watchReadiness(router.client, service.server.health);
  return service;
}
