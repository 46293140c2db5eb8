// Generated code lives in ./gen (npm run generate); this file only re-exports it.
export * from './gen/grpc/health/v1/health_pb';
export * from './gen/grpc/reflection/v1/reflection_pb';
// The same messages under the older package name (grpcurl and older clients ask it first).
export * as reflectionV1alpha from './gen/grpc/reflection/v1alpha/reflection_pb';
export * from './gen/tokenmesh/adapter/v1/adapter_pb';
export * from './gen/tokenmesh/common/v1/common_pb';
export * from './gen/tokenmesh/events/v1/events_pb';
export * from './gen/tokenmesh/feedback/v1/feedback_pb';
export * from './gen/tokenmesh/generation/v1/generation_pb';
export * from './gen/tokenmesh/inference/v1/inference_pb';
export * from './gen/tokenmesh/registry/v1/registry_pb';
export * from './gen/tokenmesh/tokenizer/v1/tokenizer_pb';
