export { routerService } from './service';
export { TrafficRouter, VARIANT_HEADER, WORKER_HEADER } from './routing';
export { WorkerPool, Worker } from './pool';
export { loadConfig, type RouterConfig } from './config';
export { start, type RouterDeps } from './start';
