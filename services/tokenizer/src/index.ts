export { ModelTokenizer } from './model-tokenizer';
export { StreamDecoder } from './stream-decoder';
export { tokenizerService } from './service';
export { TokenizerRepo } from './tokenizer-repo';
export { loadConfig, type TokenizerConfig } from './config';
export { start } from './start';
