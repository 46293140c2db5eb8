import { FeedbackService, GenerationService, InferenceService, TokenizerService } from '@tokenmesh/proto';
import { createServiceClient, startServer, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
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
  let server;
  try {
    server = await startServer({
      routes: (r) => r.service(InferenceService, inferenceService(upstreams)),
      http: restApi({ upstreams, feedback: feedback.client, bodyLimitBytes: config.bodyLimitBytes }),
      host: config.host,
      port: config.grpcPort,
      http1Port: config.httpPort,
      interceptors: rt.serverInterceptors,
      logger: rt.logger,
      metrics: rt.metrics,
      serving: false,
    });
  } catch (err) {
    closeClients();
    throw err;
  }
  const stopReadiness = watchReadiness(router.client, server.health);
  const running = server;
  return {
    name: 'gateway',
    server,
    async close(grace) {
      stopReadiness();
      await running.close(grace);
      closeClients();
    },
  };
}
