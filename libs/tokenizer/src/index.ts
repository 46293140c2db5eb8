export * from './chat-template';
export * from './model-tokenizer';
export * from './requests';
export * from './stream-decoder';
export * from './tokenizer-repo';
