/** Traffic splits per model name: weighted variants, canary fallback and shadow copies, reloaded on change. */
export {
  parseTrafficConfig,
  TrafficConfigError,
  type ModelSplit,
  type ShadowTarget,
  type TrafficConfig,
  type Variant,
} from './split-config';
export { SplitPlan, type Route, type SplitPlanOptions, type VariantTarget } from './split-plan';
export {
  loadTrafficConfig,
  watchTrafficConfig,
  type TrafficConfigWatch,
  type WatchTrafficConfigOptions,
} from './config-watcher';
