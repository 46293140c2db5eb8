export { ModelTokenizer } from './model-tokenizer';
export { StreamDecoder } from './stream-decoder';
export { tokenizerService } from './service';
export { TokenizerRepo } from './tokenizer-repo';
