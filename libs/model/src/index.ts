export * from './batch-inputs';
export * from './causal-lm';
export * from './greedy';
export * from './model-config';
export * from './onnx-io';
export * from './reference';
export * from './sampling';
export * from './sampling-fields';
