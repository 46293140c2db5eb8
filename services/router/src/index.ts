export { RoundRobin } from './round-robin';
export { routerService, type WorkerTarget } from './service';
