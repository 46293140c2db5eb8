import { TokenizerService } from '@tokenmesh/proto';
import { startServer, type RunningService, type ServiceRuntime } from '@tokenmesh/server';
import type { TokenizerConfig } from './config';
import { tokenizerService } from './service';
import { TokenizerRepo } from './tokenizer-repo';

/** Loads the tokenizers, then serves TokenizerService. */
export async function start(config: TokenizerConfig, rt: ServiceRuntime): Promise<RunningService> {
  const repo = await TokenizerRepo.load(config.modelDirs);
  rt.logger.info('tokenizers loaded', { models: repo.names });
  const server = await startServer({
    routes: (r) => r.service(TokenizerService, tokenizerService(repo)),
    host: config.host,
    port: config.port,
    http1Port: config.httpPort,
    interceptors: rt.serverInterceptors,
    logger: rt.logger,
    metrics: rt.metrics,
  });
  return { name: 'tokenizer', server, close: (grace) => server.close(grace) };
}
