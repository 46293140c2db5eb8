export { RoundRobin } from './round-robin';
export { routerService, type WorkerTarget } from './service';
export { loadConfig, type RouterConfig } from './config';
export { start } from './start';
