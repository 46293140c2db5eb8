import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type Client, Code, createClient, createRouterTransport } from '@connectrpc/connect';
import { fileSha256, loadReference } from '@tokenmesh/model';
import { GenerationService, ModelControlService } from '@tokenmesh/proto';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';
import { pollRepository } from '../../src/models/repository-poll';
import { modelControlService } from '../../src/rpc/model-control-service';
import { generationService } from '../../src/rpc/service';
import { AUTH, codeOf, expected, MODELS, OPTIONS, TOKEN } from './operator-calls';

/** A copy of the committed tinygpt as `<repo>/tinygpt/<version>`, with a model-meta.json vouching for its files. */
async function version(repo: string, v: string, edit: (dir: string) => void = () => {}, meta = true): Promise<string> {
  const dir = join(repo, 'tinygpt', v);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    cpSync(join(MODELS, 'tinygpt', f), join(dir, f));
  cpSync(join(MODELS, 'tinygpt', 'onnx', 'model.onnx'), join(dir, 'onnx', 'model.onnx'));
  if (meta) {
    const file = join(dir, 'onnx', 'model.onnx');
    const files = { 'onnx/model.onnx': { sha256: await fileSha256(file), bytes: statSync(file).size } };
    writeFileSync(join(dir, 'model-meta.json'), JSON.stringify({ description: `tinygpt ${v}`, metrics: { heldOutLoss: 1.5 }, quantization: null, files }));
  }
  edit(dir);
  return dir;
}

/** A worker serving tinygpt@1 from a repository of its own, where versions come and go as an operator's would. */
describe('run-time model versions (ModelControlService on the worker)', () => {
  let root: string;
  let repo: ModelRepo;
  let gen: Client<typeof GenerationService>;
  let control: Client<typeof ModelControlService>;
  const changes: string[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'model-repo-'));
    await version(root, '1');
    repo = await ModelRepo.load([parseModelEntry(`tinygpt@1=${join(root, 'tinygpt', '1')}`)], OPTIONS);
    const transport = createRouterTransport((r) => {
      r.service(GenerationService, generationService(repo, 'w1'));
      r.service(
        ModelControlService,
        modelControlService(repo, 'w1', {
          repository: root,
          adminToken: TOKEN,
          changed: () => changes.push(`rev ${repo.revision}: ${repo.models.map((m) => m.id)}`),
        }),
      );
    });
    gen = createClient(GenerationService, transport);
    control = createClient(ModelControlService, transport);
  }, 60_000);
  afterAll(async () => {
    await repo.close();
    rmSync(root, { recursive: true, force: true });
  });

  const generate = async (model: string, prompt: readonly number[], maxTokens: number, onToken?: () => void) => {
    const tokens: number[] = [];
    for await (const m of gen.generate({ model, promptTokenIds: [...prompt], sampling: { temperature: 0, maxTokens } })) {
      tokens.push(...m.tokenIds);
      onToken?.();
    }
    return tokens;
  };

  it('refuses loads and unloads without the operators’ token', async () => {
    await version(root, '2');
    expect((await codeOf(control.loadModel({ name: 'tinygpt', version: '2' }))).code).toBe(Code.Unauthenticated);
    expect((await codeOf(control.unloadModel({ name: 'tinygpt', version: '1' }))).code).toBe(Code.Unauthenticated);
    expect(repo.models.map((m) => m.id)).toEqual(['tinygpt@1']);
  });

  it('loads a new version while 8 streams run on the old one: none is disturbed, and it is served only once warm', async () => {
    const ref = expected((await loadReference(join(MODELS, 'tinygpt'))).cases[0]!);
    const before = changes.length;
    const streams = Array.from({ length: 8 }, () => generate('tinygpt@1', ref.prompt, ref.maxTokens));
    const loading = control.loadModel({ name: 'tinygpt', version: '2' }, AUTH);
    // Not served (nor announced) until its load and warm-up are done.
    expect(repo.resolve('tinygpt@2')).toBeUndefined();
    expect((await codeOf(generate('tinygpt@2', ref.prompt, 2))).code).toBe(Code.NotFound);
    const loaded = await loading;
    expect(loaded.versions).toEqual([expect.objectContaining({ name: 'tinygpt', version: '2', loaded: true, workerId: 'w1' })]);
    expect(loaded.versions[0]!.meta).toEqual(expect.objectContaining({ description: 'tinygpt 2', onnxSha256: expect.stringMatching(/^[0-9a-f]{64}$/) }));
    for (const tokens of await Promise.all(streams)) expect(tokens).toEqual(ref.tokens);
    expect(changes.slice(before)).toEqual([expect.stringContaining('tinygpt@1,tinygpt@2')]);
    // The served digest is the checked file's, whether hashed at start or taken from the load's check.
    expect(repo.resolve('tinygpt@2')?.digest).toBe(loaded.versions[0]!.meta!.onnxSha256);
    expect(repo.resolve('tinygpt@2')?.digest).toBe(repo.resolve('tinygpt@1')?.digest);
    // The bare name resolves to the newest version; both answer as the reference.
    expect(repo.resolve('tinygpt')?.id).toBe('tinygpt@2');
    expect(await generate('tinygpt@2', ref.prompt, ref.maxTokens)).toEqual(ref.tokens);
    expect((await codeOf(control.loadModel({ name: 'tinygpt', version: '2' }, AUTH))).code).toBe(Code.AlreadyExists);
  }, 60_000);

  it('unloads once the version’s streams have ended, refusing new requests for it at once', async () => {
    const ref = expected((await loadReference(join(MODELS, 'tinygpt'))).cases[0]!);
    let tokens = 0;
    let unloaded = false;
    let sawTokenAfterUnloadCall = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // A stream on tinygpt@2 that is still open when the unload is asked for.
    const first = new Promise<void>((r) => {
      void (async () => {
        for await (const m of gen.generate({ model: 'tinygpt@2', promptTokenIds: ref.prompt, sampling: { temperature: 0, maxTokens: 40 } })) {
          tokens += m.tokenIds.length;
          if (tokens > 0) r();
          if (unloadAsked) sawTokenAfterUnloadCall = true;
          if (tokens >= 2) await gate;
        }
      })();
    });
    let unloadAsked = false;
    await first;
    const unloading = control.unloadModel({ name: 'tinygpt', version: '2' }, AUTH).then((r) => ((unloaded = true), r));
    unloadAsked = true;
    await new Promise((r) => setTimeout(r, 200));
    expect(unloaded).toBe(false);
    expect(repo.resolve('tinygpt@2')).toBeUndefined();
    expect((await codeOf(generate('tinygpt@2', ref.prompt, 2))).code).toBe(Code.NotFound);
    release();
    expect(await unloading).toEqual({ $typeName: 'tokenmesh.registry.v1.UnloadModelResponse', workerIds: ['w1'] });
    expect(sawTokenAfterUnloadCall).toBe(true);
    expect(tokens).toBeGreaterThan(2);
    expect(repo.models.map((m) => m.id)).toEqual(['tinygpt@1']);
    expect((await codeOf(control.unloadModel({ name: 'tinygpt', version: '2' }, AUTH))).code).toBe(Code.NotFound);
  }, 60_000);

  it('refuses a broken version with its reason and never serves it; the worker serves on', async () => {
    const ref = expected((await loadReference(join(MODELS, 'tinygpt'))).cases[0]!);
    await version(root, 'truncated', (d) => truncateSync(join(d, 'onnx', 'model.onnx'), 100_000), false);
    await version(root, 'bad-sum', (d) => truncateSync(join(d, 'onnx', 'model.onnx'), 100_000));
    await version(root, 'no-tokenizer', (d) => rmSync(join(d, 'tokenizer.json')));
    await version(
      root,
      'mismatched',
      (d) => {
        const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
        writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, n_layer: 6 }));
      },
      false,
    );
    await version(root, 'bad-meta', (d) => writeFileSync(join(d, 'model-meta.json'), '{"files": ['));
    const cases: [string, Code, RegExp][] = [
      ['truncated', Code.InvalidArgument, /tinygpt@truncated cannot be loaded: .*(protobuf|parse|load|onnx)/i],
      ['bad-sum', Code.InvalidArgument, /model\.onnx: 100000 bytes, model-meta\.json says \d+/],
      ['no-tokenizer', Code.InvalidArgument, /tokenizer\.json: missing/],
      ['mismatched', Code.InvalidArgument, /tinygpt@mismatched cannot be loaded: .+/],
      ['bad-meta', Code.InvalidArgument, /model-meta\.json: not JSON/],
      [
        'nope',
        Code.NotFound,
        /tinygpt@nope is not in the model repository .*its versions there: 1, 2, bad-meta, bad-sum, mismatched, no-tokenizer, truncated\)/,
      ],
    ];
    for (const [v, code, message] of cases) {
      const f = await codeOf(control.loadModel({ name: 'tinygpt', version: v }, AUTH));
      expect({ v, code: f.code }).toEqual({ v, code });
      expect(f.message).toMatch(message);
    }
    expect(repo.models.map((m) => m.id)).toEqual(['tinygpt@1']);
    expect(await generate('tinygpt', ref.prompt, ref.maxTokens)).toEqual(ref.tokens);

    const listed = await control.listRepository({});
    const byVersion = new Map(listed.versions.map((v) => [v.version, v]));
    expect(byVersion.get('1')).toEqual(expect.objectContaining({ loaded: true, problem: '' }));
    expect(byVersion.get('bad-meta')?.problem).toMatch(/not JSON/);
    expect(byVersion.get('truncated')).toEqual(expect.objectContaining({ loaded: false, problem: '' }));
  }, 60_000);

  it('polls: a new version directory is loaded then served, a vanished one unloaded while another serves', async () => {
    for (const v of ['truncated', 'bad-sum', 'no-tokenizer', 'mismatched', 'bad-meta', '2']) rmSync(join(root, 'tinygpt', v), { recursive: true, force: true });
    const failures: string[] = [];
    const seen: string[] = [];
    const poll = pollRepository(repo, {
      repository: root,
      intervalMs: 0,
      changed: () => {},
      onChange: (c, m) => seen.push(`${c} ${m.id}`),
      onFailure: (e, err) => failures.push(`${e.version}: ${err.message}`),
    });
    try {
      await poll.scan();
      expect(seen).toEqual([]);
      await version(root, '3');
      await version(root, 'broken', (d) => truncateSync(join(d, 'onnx', 'model.onnx'), 1000), false);
      await poll.scan();
      expect(seen).toEqual(['loaded tinygpt@3']);
      expect(repo.resolve('tinygpt')?.id).toBe('tinygpt@3');
      expect(failures).toEqual([expect.stringMatching(/^broken: /)]);
      // A failed version is not retried until its files change.
      await poll.scan();
      expect(failures).toHaveLength(1);
      rmSync(join(root, 'tinygpt', 'broken'), { recursive: true });
      rmSync(join(root, 'tinygpt', '1'), { recursive: true });
      await poll.scan();
      expect(seen).toEqual(['loaded tinygpt@3', 'unloaded tinygpt@1']);
      // The last version of a name stays, even when its directory goes.
      rmSync(join(root, 'tinygpt', '3'), { recursive: true });
      await poll.scan();
      expect(repo.models.map((m) => m.id)).toEqual(['tinygpt@3']);
    } finally {
      await poll.stop();
    }
  }, 60_000);
});
