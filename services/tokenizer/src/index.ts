export { loadConfig, type TokenizerConfig } from './config';
export { tokenizerService } from './service';
export { start } from './start';
