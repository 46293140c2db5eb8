export * from './build-mesh';
