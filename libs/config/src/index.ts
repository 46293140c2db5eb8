export * from './env-reader';
export * from './field-reader';
export * from './problems';
export * from './redact';
