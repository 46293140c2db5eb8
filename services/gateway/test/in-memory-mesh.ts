import { resolve } from 'node:path';
import { createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { generationService, ModelRepo, parseModelEntry } from '@tokenmesh/inference';
import { GenerationService, TokenizerService } from '@tokenmesh/proto';
import { routerService, TrafficRouter, WorkerPool } from '@tokenmesh/router';
import { TokenizerRepo } from '@tokenmesh/tokenizer';
import { tokenizerService } from '@tokenmesh/tokenizer-service';
import type { Upstreams } from '../src/pipeline/generate-text';
import { localDecoders } from '../src/pipeline/local-tokenizer';

export const TINYLLAMA = resolve(__dirname, '../../../models/tinyllama');

/**
 * Real tokenizer, router and inference handlers (onnxruntime in a worker thread) joined by
 * Connect's in-memory transport: the gateway's upstreams without the network. `workerCalls`
 * counts Generate calls that reached the worker. `holdMs` is the worker's stream hold;
 * `localDecoding` detokenizes in the gateway as GATEWAY_LOCAL_TOKENIZERS does.
 */
export async function inMemoryMesh(
  modelDir = TINYLLAMA,
  opts: { readonly holdMs?: () => number; readonly localDecoding?: boolean } = {},
): Promise<{ upstreams: Upstreams; repo: ModelRepo; workerCalls: () => number; close: () => Promise<void> }> {
  const repo = await ModelRepo.load([parseModelEntry(modelDir)], { intraOpThreads: 1, executionProviders: ['cpu'] });
  const worker = generationService(repo, 'w1', { holdMs: opts.holdMs });
  let calls = 0;
  const counted: ServiceImpl<typeof GenerationService> = {
    listServedModels: (req, ctx) => worker.listServedModels(req, ctx),
    generate: (req, ctx) => {
      calls++;
      return worker.generate(req, ctx);
    },
  };
  const workerClient = createClient(GenerationService, createRouterTransport((r) => r.service(GenerationService, counted)));
  const tokenizers = await TokenizerRepo.load([modelDir]);
  const pool = new WorkerPool({ connect: () => ({ client: workerClient, close: () => undefined }) });
  // Static, so it never goes stale for want of heartbeats; its models are known up front.
  const w1 = pool.addStatic('w1');
  w1.announcement = { ...w1.announcement, models: repo.models.map((m) => m.id) };
  for (const m of repo.models) w1.contextLengths.set(m.id, m.spec.contextLength);
  const router = new TrafficRouter({ pool, defaultStrategy: 'p2c', plan: () => undefined });
  return {
    repo,
    workerCalls: () => calls,
    close: () => repo.close(),
    upstreams: {
      defaultModel: repo.models[0]!.entry.name,
      tokenizer: createClient(TokenizerService, createRouterTransport((r) => r.service(TokenizerService, tokenizerService(tokenizers)))),
      router: createClient(GenerationService, createRouterTransport((r) => r.service(GenerationService, routerService(pool, router)))),
      ...(opts.localDecoding ? { localDecoder: localDecoders(tokenizers) } : {}),
    },
  };
}
