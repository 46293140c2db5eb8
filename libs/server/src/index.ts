export * from './start-server';
export * from './health-reporter';
export * from './health-service';
export * from './http-routes';
export * from './shutdown-signals';
export * from './service-client';
export * from './service-runtime';
