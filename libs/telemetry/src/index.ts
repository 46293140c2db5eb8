export * from './attributes';
export * from './connect-interceptors';
export * from './env-span-processors';
export * from './generation-span';
export * from './init-telemetry';
export { isUntracedRequest } from './instrumentations';
export * from './message-context';
export * from './message-spans';
export { rpcMethodAttributes, spanEnder, STREAM_ABANDONED, toConnectError } from './rpc-span';
