import * as semconv from '@opentelemetry/semantic-conventions/incubating';

import { ATTR, fingerprint } from '../src';

describe('attribute registry', () => {
  it('uses the OpenTelemetry semantic-convention names where they exist', () => {
    expect(ATTR.model).toBe(semconv.ATTR_GEN_AI_REQUEST_MODEL);
    expect(ATTR.responseModel).toBe(semconv.ATTR_GEN_AI_RESPONSE_MODEL);
    expect(ATTR.operation).toBe(semconv.ATTR_GEN_AI_OPERATION_NAME);
    expect(ATTR.maxTokens).toBe(semconv.ATTR_GEN_AI_REQUEST_MAX_TOKENS);
    expect(ATTR.temperature).toBe(semconv.ATTR_GEN_AI_REQUEST_TEMPERATURE);
    expect(ATTR.topP).toBe(semconv.ATTR_GEN_AI_REQUEST_TOP_P);
    expect(ATTR.topK).toBe(semconv.ATTR_GEN_AI_REQUEST_TOP_K);
    expect(ATTR.finishReasons).toBe(semconv.ATTR_GEN_AI_RESPONSE_FINISH_REASONS);
    expect(ATTR.promptTokens).toBe(semconv.ATTR_GEN_AI_USAGE_INPUT_TOKENS);
    expect(ATTR.completionTokens).toBe(semconv.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS);
    expect(ATTR.rpcSystem).toBe(semconv.ATTR_RPC_SYSTEM);
    expect(ATTR.rpcService).toBe(semconv.ATTR_RPC_SERVICE);
    expect(ATTR.rpcMethod).toBe(semconv.ATTR_RPC_METHOD);
    expect(ATTR.rpcGrpcStatusCode).toBe(semconv.ATTR_RPC_GRPC_STATUS_CODE);
    expect(ATTR.rpcConnectErrorCode).toBe(semconv.ATTR_RPC_CONNECT_RPC_ERROR_CODE);
    expect(ATTR.messagingSystem).toBe(semconv.ATTR_MESSAGING_SYSTEM);
    expect(ATTR.messagingDestination).toBe(semconv.ATTR_MESSAGING_DESTINATION_NAME);
    expect(ATTR.messagingOperationType).toBe(semconv.ATTR_MESSAGING_OPERATION_TYPE);
    expect(ATTR.messagingOperationName).toBe(semconv.ATTR_MESSAGING_OPERATION_NAME);
    expect(ATTR.errorType).toBe(semconv.ATTR_ERROR_TYPE);
  });

  it('prefixes every project-specific name with tokenmesh. and never reuses a name', () => {
    const names = Object.values(ATTR);
    const conventional = /^(gen_ai|rpc|messaging|error)\./;
    expect(names.filter((n) => !conventional.test(n)).every((n) => n.startsWith('tokenmesh.'))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
  });

  it('fingerprints secrets stably without revealing them', () => {
    const key = 'sk-live-4f9a8b7c6d5e';
    expect(fingerprint(key)).toBe(fingerprint(key));
    expect(fingerprint(key)).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(fingerprint(key)).not.toContain(key.slice(3));
    expect(fingerprint(key + 'x')).not.toBe(fingerprint(key));
  });
});
