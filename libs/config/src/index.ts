export * from './env-reader';
export * from './redact';
