export * from './bus';
export * from './connect-bus';
export * from './errors';
export * from './headers';
export { MemoryBroker } from './memory-broker';
export * from './memory-bus';
export * from './nats-bus';
export { subjectMatches } from './subject';
export * from './topology';
