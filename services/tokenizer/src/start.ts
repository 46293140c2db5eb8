import { TokenizerService } from '@tokenmesh/proto';
import { type RunningService, type ServiceRuntime, startService } from '@tokenmesh/server';
import { TokenizerRepo } from '@tokenmesh/tokenizer';

import type { TokenizerConfig } from './config';
import { tokenizerService } from './service';

/** Loads the tokenizers, then serves TokenizerService. */
export async function start(config: TokenizerConfig, rt: ServiceRuntime): Promise<RunningService> {
  const repo = await TokenizerRepo.load(config.modelDirs);
  rt.logger.info('tokenizers loaded', { models: repo.names });
  return startService({ name: 'tokenizer', listen: config, routes: (r) => r.service(TokenizerService, tokenizerService(repo)) }, rt);
}
