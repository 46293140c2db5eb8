/** Traffic splits per model name: weighted variants, canary fallback and shadow copies, reloaded on change. */
export { loadTrafficConfig, watchTrafficConfig } from './config-watcher';
export { parseTrafficConfig, type TrafficConfig, TrafficConfigError } from './split-config';
export { SplitPlan, type VariantTarget } from './split-plan';
export { trafficService } from './traffic-service';
export { TrafficState } from './traffic-state';
