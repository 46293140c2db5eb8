import { resolve } from 'node:path';

import type { ServiceImpl } from '@connectrpc/connect';
import { generationService, ModelRepo, parseModelEntry } from '@tokenmesh/inference';
import { buildMesh } from '@tokenmesh/mesh';
import { GenerationService, TokenizerService } from '@tokenmesh/proto';
import { createRuntime, createServiceClient, enableInProcessCalls, type ServiceRuntime, startService } from '@tokenmesh/server';
import { inProcessLauncher } from '@tokenmesh/supervisor';
import { waitFor } from '@tokenmesh/testing';
import { TokenizerRepo } from '@tokenmesh/tokenizer';

import type { Upstreams } from '../src/pipeline/generate-text';
import { localDecoders } from '../src/pipeline/local-tokenizer';
import { routerCatalog } from '../src/pipeline/served-model-catalog';

export const TINYLLAMA = resolve(__dirname, '../../../models/tinyllama');
export const MODELS_DIR = resolve(__dirname, '../../../models');

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

/** A service's runtime without log output: these meshes start and stop in every test file. */
const quietRuntime = (service: string): ServiceRuntime => ({ ...createRuntime(service), logger: quiet });

/** Every listener on a free loopback port. */
const PORTS = { TOKENIZER_PORT: '0', TOKENIZER_HTTP_PORT: '0', ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0' };

/**
 * The gateway's upstreams as `npm start` runs them, in this process: the real tokenizer and
 * router services and an inference worker (onnxruntime in a worker thread) wired by `buildMesh`,
 * calling each other in process (no network). The worker is this fixture's own, over the real
 * handlers: `workerCalls` counts the Generate calls that reached it, `holdMs` is its stream hold.
 * `localDecoding` detokenizes in the gateway as GATEWAY_LOCAL_TOKENIZERS does. Resolves once the
 * router lists what the worker serves.
 */
export async function inMemoryMesh(
  modelDir = TINYLLAMA,
  opts: { readonly holdMs?: () => number; readonly localDecoding?: boolean; readonly adapters?: readonly string[] } = {},
): Promise<{ upstreams: Upstreams; repo: ModelRepo; workerCalls: () => number; close: () => Promise<void> }> {
  enableInProcessCalls();
  const repo = await ModelRepo.load([parseModelEntry(modelDir)], { intraOpThreads: 1, executionProviders: ['cpu'] }, undefined, undefined, opts.adapters);
  const worker = generationService(repo, 'w1', { holdMs: opts.holdMs });
  let calls = 0;
  const counted: ServiceImpl<typeof GenerationService> = {
    listServedModels: (req, ctx) => worker.listServedModels(req, ctx),
    generate: (req, ctx) => {
      calls++;
      return worker.generate(req, ctx);
    },
  };
  const startWorker = () =>
    startService(
      {
        name: 'inference',
        listen: { host: '127.0.0.1', port: 0, httpPort: 0 },
        routes: (r) => r.service(GenerationService, counted),
        release: () => repo.close(),
      },
      quietRuntime('inference'),
    );
  const mesh = await buildMesh(inProcessLauncher({ runtime: quietRuntime, instead: { inference: startWorker } }), {
    env: { ...PORTS, TOKENIZER_MODELS: modelDir },
    feedback: false,
    gateway: false,
  });
  const tokenizer = createServiceClient(TokenizerService, mesh.tokenizer.server.url);
  const router = createServiceClient(GenerationService, mesh.router.server.url);
  const close = async () => {
    tokenizer.close();
    router.close();
    await mesh.stop(0);
  };
  try {
    // The router learns what its static worker serves (and each model's context length) by asking it.
    await waitFor(async () => {
      const { models } = await router.client.listServedModels({});
      return repo.models.every((m) => models.some((s) => `${s.name}@${s.version}` === m.id && s.contextLength > 0));
    });
  } catch (err) {
    await close();
    throw err;
  }
  const tokenizers = opts.localDecoding ? await TokenizerRepo.load([modelDir]) : undefined;
  return {
    repo,
    workerCalls: () => calls,
    close,
    upstreams: {
      defaultModel: repo.models[0]!.entry.name,
      tokenizer: tokenizer.client,
      router: router.client,
      // As the gateway's: what the router serves (an adapter's parent names its tokenizer).
      catalog: routerCatalog(router.client),
      ...(tokenizers ? { localDecoder: localDecoders(tokenizers) } : {}),
    },
  };
}
