/** The request path: pick (variant, worker) → attempt (one worker call) → retry (policy around attempts). */
export { TrafficRouter, type TrafficRouterOptions } from './traffic-router';
export { VARIANT_HEADER, WORKER_HEADER } from './attempt';
export { ShadowRunner, type ShadowOptions } from './shadow-runner';
