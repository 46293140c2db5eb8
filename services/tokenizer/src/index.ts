export { tokenizerService } from './service';
export { loadConfig, type TokenizerConfig } from './config';
export { start } from './start';
