export { type BatchConfig, loadConfig } from './config';
export { type BatchDeps, start } from './start';
