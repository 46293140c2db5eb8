import { resolve } from 'node:path';

import { EnvReader } from '@tokenmesh/config';

/** The committed models: the default tinygpt and the Llama-family fixture. */
export const DEFAULT_MODEL_DIRS = ['tinygpt', 'tinyllama'].map((m) => resolve(__dirname, '../../../models', m));

export interface TokenizerConfig {
  readonly host: string;
  /** HTTP/2 port for gRPC and Connect; 0 picks a free one. */
  readonly port: number;
  /** HTTP/1.1 port for /metrics, /health and /ready. */
  readonly httpPort: number;
  /** Model directories whose tokenizers are served. */
  readonly modelDirs: readonly string[];
}

/** Parses TOKENIZER_* variables once. @throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): TokenizerConfig {
  const e = new EnvReader(env);
  const config = {
    host: e.str('TOKENIZER_HOST', '127.0.0.1'),
    port: e.int('TOKENIZER_PORT', { default: 50052, min: 0, max: 65535 }),
    httpPort: e.int('TOKENIZER_HTTP_PORT', { default: 9102, min: 0, max: 65535 }),
    modelDirs: e.list('TOKENIZER_MODELS', DEFAULT_MODEL_DIRS).map((d) => resolve(d)),
  };
  e.check(config.modelDirs.length > 0, 'TOKENIZER_MODELS must name at least one model directory');
  e.done();
  return config;
}
