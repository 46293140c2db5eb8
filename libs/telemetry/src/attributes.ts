import { createHash } from 'node:crypto';

/**
 * Every span attribute name the mesh writes, in one place, so Jaeger queries and dashboards can
 * rely on them. Project-specific names carry the `tokenmesh.` prefix; everything that has an
 * OpenTelemetry semantic-convention name uses it (`gen_ai.*`, `rpc.*`, `messaging.*`).
 *
 * Never put prompts, completions or API keys into spans: record counts, and `fingerprint()`
 * values where correlation is needed.
 */
export const ATTR = {
  // tokenmesh.*: what the conventions have no name for.
  requestId: 'tokenmesh.request_id',
  worker: 'tokenmesh.worker_id',
  /** Traffic-split variant chosen by the router. */
  variant: 'tokenmesh.variant',
  /** Routing strategy (e.g. round_robin, p2c, prefix_affinity). */
  strategy: 'tokenmesh.routing.strategy',
  retries: 'tokenmesh.retries',
  priority: 'tokenmesh.priority',
  /** `fingerprint()` of the routing key (it may be a session id). */
  routingKey: 'tokenmesh.routing_key.fingerprint',
  /** Response cache: hit (also a shared concurrent generation) or miss. */
  cacheOutcome: 'tokenmesh.cache.outcome',
  queueWaitMs: 'tokenmesh.queue.wait_ms',
  batchSize: 'tokenmesh.batch.size',
  timeToFirstTokenMs: 'tokenmesh.time_to_first_token_ms',

  // gen_ai.*: OpenTelemetry GenAI semantic conventions.
  operation: 'gen_ai.operation.name',
  model: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  maxTokens: 'gen_ai.request.max_tokens',
  temperature: 'gen_ai.request.temperature',
  topP: 'gen_ai.request.top_p',
  topK: 'gen_ai.request.top_k',
  finishReasons: 'gen_ai.response.finish_reasons',
  promptTokens: 'gen_ai.usage.input_tokens',
  completionTokens: 'gen_ai.usage.output_tokens',

  // rpc.*: the names instrumentation-grpc writes too, so grpc-js and Connect spans look alike.
  rpcSystem: 'rpc.system',
  rpcService: 'rpc.service',
  rpcMethod: 'rpc.method',
  rpcGrpcStatusCode: 'rpc.grpc.status_code',
  rpcConnectErrorCode: 'rpc.connect_rpc.error_code',

  // messaging.*: NATS events.
  messagingSystem: 'messaging.system',
  messagingDestination: 'messaging.destination.name',
  messagingOperationType: 'messaging.operation.type',
  messagingOperationName: 'messaging.operation.name',

  errorType: 'error.type',
} as const;

/** One of the registered attribute names. */
export type AttributeName = (typeof ATTR)[keyof typeof ATTR];

/**
 * A short, stable, one-way tag for a secret or an identifying value (API key, routing key), so
 * spans can be grouped by it without revealing it. Not a password hash: do not rely on it to
 * hide low-entropy values.
 */
export function fingerprint(value: string): string {
  return 'sha256:' + createHash('sha256').update(value).digest('hex').slice(0, 16);
}
