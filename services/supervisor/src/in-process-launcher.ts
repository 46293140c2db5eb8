import { loadConfig as batchConfig, start as startBatch } from '@tokenmesh/batch-service';
import type { Bus } from '@tokenmesh/bus';
import { loadConfig as feedbackConfig, start as startFeedback } from '@tokenmesh/feedback';
import { loadConfig as gatewayConfig, start as startGateway } from '@tokenmesh/gateway';
import { loadConfig as inferenceConfig, start as startInference } from '@tokenmesh/inference';
import type { Env, MeshLauncher, MeshServiceName } from '@tokenmesh/mesh';
import { loadConfig as routerConfig, start as startRouter } from '@tokenmesh/router';
import type { RunningService, ServiceRuntime } from '@tokenmesh/server';
import type { Store } from '@tokenmesh/store';
import { loadConfig as tokenizerConfig, start as startTokenizer } from '@tokenmesh/tokenizer-service';

export interface InProcessOptions {
  /** Each service's logger, metrics and interceptors. */
  readonly runtime: (service: string) => ServiceRuntime;
  /** One store for feedback and the gateway, instead of one each; owned by the caller. */
  readonly store?: Store;
  /** The bus each service that uses one is given (owned by the caller); without it, each connects to NATS_URL or goes without. */
  readonly bus?: (service: string) => Promise<Bus>;
  /** Services started some other way (a test's own worker); the others start as in production. */
  readonly instead?: Partial<Record<MeshServiceName, (env: Env) => Promise<RunningService>>>;
}

/** Starts each service of the mesh in this process with its own `start()`, as its main.ts would. */
export function inProcessLauncher(opts: InProcessOptions): MeshLauncher<RunningService> {
  const { runtime, store } = opts;
  const bus = async (name: string): Promise<{ bus?: Bus }> => (opts.bus ? { bus: await opts.bus(name) } : {});
  const start = async (name: MeshServiceName, env: Env): Promise<RunningService> => {
    const instead = opts.instead?.[name];
    if (instead) return instead(env);
    switch (name) {
      case 'tokenizer':
        return startTokenizer(tokenizerConfig(env), runtime('tokenizer'));
      case 'inference':
        return startInference(inferenceConfig(env), runtime('inference'), await bus('inference'));
      case 'feedback':
        return startFeedback(feedbackConfig(env), runtime('feedback'), { store, ...(await bus('feedback')) });
      case 'router':
        return startRouter(routerConfig(env), runtime('router'), await bus('router'));
      case 'gateway':
        return startGateway(
          // Same files as the tokenizer service: encode and detokenize without the hop.
          gatewayConfig({ ...env, GATEWAY_LOCAL_TOKENIZERS: env['GATEWAY_LOCAL_TOKENIZERS'] ?? tokenizerConfig(env).modelDirs.join(',') }),
          runtime('gateway'),
          { store, ...(await bus('gateway')) },
        );
      case 'batch':
        return startBatch(batchConfig(env), runtime('batch'), await bus('batch'));
    }
  };
  return { start, url: (s) => s.server.url, httpUrl: (s) => s.server.http1Url ?? s.server.url, stop: (s, graceMs) => s.close(graceMs) };
}
