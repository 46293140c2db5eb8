export { loadConfig, type RouterConfig } from './config';
export { Worker, WorkerPool } from './pool';
export { TrafficRouter, VARIANT_HEADER, WORKER_HEADER } from './routing';
export { routerService } from './service';
export { type RouterDeps, start } from './start';
