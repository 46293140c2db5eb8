import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import { type Client, createClient, createRouterTransport } from '@connectrpc/connect';
import { loadReference, type ReferenceCase } from '@tokenmesh/model';
import { GenerationService } from '@tokenmesh/proto';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';
import { generationService } from '../../src/rpc/service';
import type { StepResult } from '../../src/worker/protocol';

const MODELS = resolve(__dirname, '../../../../models');
const OPTIONS = { intraOpThreads: 1, executionProviders: ['cpu'] };
const EOS = 256;

/** Row 0 of a reference case: its prompt and the tokens a worker streams (end-of-text is not streamed). */
function expected(c: ReferenceCase) {
  const row = c.greedy_ids[0]!;
  return { prompt: c.input_ids[0]!.filter((_, i) => c.attention_mask[0]![i] === 1), tokens: row.filter((t) => t !== EOS), maxTokens: row.length };
}

describe('LoRA adapters served by their base’s worker (INFERENCE_ADAPTERS)', () => {
  let repo: ModelRepo;
  let client: Client<typeof GenerationService>;
  beforeAll(async () => {
    repo = await ModelRepo.load([parseModelEntry(resolve(MODELS, 'tinygpt'))], OPTIONS, undefined, undefined, [
      resolve(MODELS, 'tinygpt-chat'),
      resolve(MODELS, 'tinygpt-jargon'),
    ]);
    client = createClient(
      GenerationService,
      createRouterTransport((router) => router.service(GenerationService, generationService(repo, 'w1'))),
    );
  }, 60_000);
  afterAll(() => repo.close());

  it('lists each adapter as a model with its base as parent, on the base’s one worker thread', async () => {
    const { models } = await client.listServedModels({});
    expect(models.map((m) => [`${m.name}@${m.version}`, m.parent])).toEqual([
      ['tinygpt@1', ''],
      ['tinygpt-chat@1', 'tinygpt'],
      ['tinygpt-jargon@1', 'tinygpt'],
    ]);
    expect(new Set(repo.models.map((m) => m.runners[0]))).toHaveProperty('size', 1);
    // What each was loaded from: the base's ONNX file; an adapter's files over the base's digest.
    const onnx = createHash('sha256')
      .update(readFileSync(resolve(MODELS, 'tinygpt/onnx/model.onnx')))
      .digest('hex');
    expect(models[0]!.digest).toBe(onnx);
    expect(new Set(models.map((m) => m.digest)).size).toBe(3);
  });

  it('an adapter changed in place, under the same name, is announced with another digest (caches key on it)', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lora-')), 'tinygpt-chat');
    cpSync(resolve(MODELS, 'tinygpt-chat'), dir, { recursive: true });
    const weights = readFileSync(join(dir, 'adapter_model.safetensors'));
    const load = async () => {
      const r = await ModelRepo.load([parseModelEntry(resolve(MODELS, 'tinygpt'))], OPTIONS, undefined, undefined, [dir]);
      try {
        return r.resolve('tinygpt-chat')!.digest;
      } finally {
        await r.close();
      }
    };
    const before = await load();
    expect(before).toBe(repo.resolve('tinygpt-chat')!.digest);
    // One weight of the last tensor nudged: same shapes, another adapter.
    weights.writeUInt8(weights.readUInt8(weights.length - 1) ^ 1, weights.length - 1);
    writeFileSync(join(dir, 'adapter_model.safetensors'), weights);
    expect(await load()).not.toBe(before);
    rmSync(dirname(dir), { recursive: true, force: true });
  });

  it('requests for the base and both adapters, decoded in the same passes, each reproduce their own PyTorch reference', async () => {
    const cases = {
      tinygpt: expected((await loadReference(resolve(MODELS, 'tinygpt'))).cases[0]!),
      'tinygpt-chat': expected((await loadReference(resolve(MODELS, 'tinygpt-chat'))).cases[0]!),
      'tinygpt-jargon': expected((await loadReference(resolve(MODELS, 'tinygpt-jargon'))).cases[0]!),
    };
    const steps: StepResult[] = [];
    const off = repo.models[0]!.runners[0]!.onStep((s) => steps.push(s));
    try {
      const run = async (model: keyof typeof cases) => {
        const tokens: number[] = [];
        for await (const m of client.generate({
          model,
          promptTokenIds: cases[model].prompt,
          sampling: { temperature: 0, maxTokens: cases[model].maxTokens },
        })) {
          tokens.push(...m.tokenIds);
        }
        return tokens;
      };
      const got = await Promise.all([run('tinygpt-jargon'), run('tinygpt'), run('tinygpt-chat')]);
      expect(got).toEqual([cases['tinygpt-jargon'].tokens, cases.tinygpt.tokens, cases['tinygpt-chat'].tokens]);
    } finally {
      off();
    }
    // One prefill of all three, then decode passes holding all three rows.
    expect(steps.some((s) => s.prefillBatch === 3)).toBe(true);
    expect(steps.filter((s) => s.decodeBatch === 3).length).toBeGreaterThanOrEqual(30);
  });

  it('refuses an adapter whose base this worker does not serve, naming the adapter and the field', async () => {
    await expect(
      ModelRepo.load([parseModelEntry(resolve(MODELS, 'tinyllama'))], OPTIONS, undefined, undefined, [resolve(MODELS, 'tinygpt-chat')]),
    ).rejects.toThrow(/adapter tinygpt-chat: .*base_model_name_or_path.*tinygpt/);
  });

  it('refuses an adapter whose weights are truncated, with the worker’s own check naming the file', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lora-')), 'tinygpt-chat');
    cpSync(resolve(MODELS, 'tinygpt-chat'), dir, { recursive: true });
    const weights = readFileSync(join(dir, 'adapter_model.safetensors'));
    writeFileSync(join(dir, 'adapter_model.safetensors'), weights.subarray(0, weights.length - 100));
    try {
      await expect(ModelRepo.load([parseModelEntry(resolve(MODELS, 'tinygpt'))], OPTIONS, undefined, undefined, [dir])).rejects.toThrow(
        /adapter tinygpt-chat: adapter_model\.safetensors: /,
      );
    } finally {
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  });

  it('refuses a directory that holds no adapter, naming the missing file', async () => {
    await expect(ModelRepo.load([parseModelEntry(resolve(MODELS, 'tinygpt'))], OPTIONS, undefined, undefined, [resolve(MODELS, 'tinyllama')])).rejects.toThrow(
      /adapter tinyllama: adapter_config\.json: not found/,
    );
  });
});
