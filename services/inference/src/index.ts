export { Engine, type FinishEvent, type GenerationEvent, type TokenEvent } from './engine';
export { ModelRepo, parseModelEntry, type LoadedModel, type ModelEntry } from './model-repo';
export { ModelRunner, type RunnerOptions } from './model-runner';
export { generationService } from './service';
export { loadConfig, type InferenceConfig } from './config';
export { start } from './start';
export { DEFAULT_LIMITS, QueueDeadlineError, RequestTooLargeError, type EngineLimits } from './engine-limits';
export { QueueFullError, RequestQueue } from './request-queue';
export { rebuildKv, type KvRow } from './batch-kv';
