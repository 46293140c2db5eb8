/** The request path: pick (variant, worker) → attempt (one worker call) → retry (policy around attempts). */
export { VARIANT_HEADER, WORKER_HEADER } from './attempt';
export { ShadowRunner } from './shadow-runner';
export { TrafficRouter } from './traffic-router';
