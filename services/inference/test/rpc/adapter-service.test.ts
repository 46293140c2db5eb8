import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { type Client, Code, createClient, createRouterTransport } from '@connectrpc/connect';
import { loadReference } from '@tokenmesh/model';
import { AdapterService, GenerationService } from '@tokenmesh/proto';

import { ModelRepo, parseModelEntry } from '../../src/models/model-repo';
import { adapterService } from '../../src/rpc/adapter-service';
import { generationService } from '../../src/rpc/service';
import { AUTH, codeOf, expected, MODELS, OPTIONS, TOKEN } from './operator-calls';

/** A copy of a committed adapter in a temp directory, edited by `edit` (config, weights). */
function adapterCopy(from: string, edit: (dir: string) => void = () => {}): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'lora-rt-')), from);
  cpSync(resolve(MODELS, from), dir, { recursive: true });
  edit(dir);
  return dir;
}

function editConfig(dir: string, change: (c: Record<string, unknown>) => void): void {
  const file = join(dir, 'adapter_config.json');
  const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(c);
  writeFileSync(file, JSON.stringify(c));
}

/** A worker started without adapters: they come and go through AdapterService, as an operator does it. */
describe('run-time LoRA adapters (AdapterService on the worker)', () => {
  let repo: ModelRepo;
  let gen: Client<typeof GenerationService>;
  let admin: Client<typeof AdapterService>;
  const changes: string[] = [];
  const temps: string[] = [];
  const temp = (d: string) => (temps.push(resolve(d, '..')), d);

  beforeAll(async () => {
    repo = await ModelRepo.load([parseModelEntry(resolve(MODELS, 'tinygpt'))], OPTIONS);
    const transport = createRouterTransport((r) => {
      r.service(GenerationService, generationService(repo, 'w1'));
      r.service(AdapterService, adapterService(repo, 'w1', { adminToken: TOKEN, changed: () => changes.push(`rev ${repo.revision}`) }));
    });
    gen = createClient(GenerationService, transport);
    admin = createClient(AdapterService, transport);
  }, 60_000);
  afterAll(async () => {
    await repo.close();
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  });

  const generate = async (model: string, prompt: readonly number[], maxTokens: number) => {
    const tokens: number[] = [];
    for await (const m of gen.generate({ model, promptTokenIds: [...prompt], sampling: { temperature: 0, maxTokens } })) tokens.push(...m.tokenIds);
    return tokens;
  };

  it('refuses every call without the operators’ token, and all of them when the worker has none', async () => {
    expect((await codeOf(admin.listAdapters({}))).code).toBe(Code.Unauthenticated);
    expect(
      (await codeOf(admin.loadAdapter({ path: resolve(MODELS, 'tinygpt-chat') }, { headers: { authorization: 'Bearer wrong-token-0123456789' } }))).code,
    ).toBe(Code.Unauthenticated);
    const off = createClient(
      AdapterService,
      createRouterTransport((r) => r.service(AdapterService, adapterService(repo, 'w1', { adminToken: undefined, changed: () => {} }))),
    );
    const denied = await codeOf(off.loadAdapter({ path: resolve(MODELS, 'tinygpt-chat') }, AUTH));
    expect(denied).toEqual({ code: Code.PermissionDenied, message: expect.stringContaining('INFERENCE_ADMIN_TOKEN') });
    expect(repo.models.map((m) => m.id)).toEqual(['tinygpt@1']);
  });

  it('loads an adapter while 8 streams run: none is disturbed, and the adapter answers as its PyTorch reference', async () => {
    const base = expected((await loadReference(resolve(MODELS, 'tinygpt'))).cases[0]!);
    const chat = expected((await loadReference(resolve(MODELS, 'tinygpt-chat'))).cases[0]!);
    const alone = await generate('tinygpt', base.prompt, 96);
    const streams = Array.from({ length: 8 }, () => generate('tinygpt', base.prompt, 96));
    const rev = repo.revision;
    const { adapters } = await admin.loadAdapter({ path: resolve(MODELS, 'tinygpt-chat') }, AUTH);
    expect(adapters).toEqual([
      expect.objectContaining({
        name: 'tinygpt-chat',
        base: 'tinygpt@1',
        rank: 8,
        workerId: 'w1',
        fromConfig: false,
        digest: repo.resolve('tinygpt-chat')!.digest,
      }),
    ]);
    expect(repo.revision).toBeGreaterThan(rev);
    const [served, ...running] = await Promise.all([generate('tinygpt-chat', chat.prompt, chat.maxTokens), ...streams]);
    expect(served).toEqual(chat.tokens);
    for (const r of running) expect(r).toEqual(alone);
    expect((await gen.listServedModels({})).models.map((m) => [m.name, m.parent])).toEqual([
      ['tinygpt', ''],
      ['tinygpt-chat', 'tinygpt'],
    ]);
    expect(changes.length).toBeGreaterThan(0);
  }, 60_000);

  it('unload stops new requests at once, waits for the adapter’s streams, then a reload under the same name serves the new weights', async () => {
    const chat = expected((await loadReference(resolve(MODELS, 'tinygpt-chat'))).cases[0]!);
    const jargon = expected((await loadReference(resolve(MODELS, 'tinygpt-jargon'))).cases[0]!);
    const base = expected((await loadReference(resolve(MODELS, 'tinygpt'))).cases[0]!);
    const oldDigest = repo.resolve('tinygpt-chat')!.digest;
    // Read by hand: the stream stays open on the worker until this test reads it to the end, so
    // "still running when the unload comes" does not depend on how fast the machine is.
    // Plain text, not a chat turn: the adapter goes on writing rather than ending its answer.
    const long = gen.generate({ model: 'tinygpt-chat', promptTokenIds: base.prompt, sampling: { temperature: 0, maxTokens: 400 } })[Symbol.asyncIterator]();
    const first = await long.next();
    expect(first.done).toBe(false);
    let unloaded = 0;
    const unloading = admin.unloadAdapter({ name: 'tinygpt-chat' }, AUTH).then((r) => ((unloaded = performance.now()), r));
    // Gone for new requests while the old stream still runs.
    expect((await codeOf(generate('tinygpt-chat', chat.prompt, 4))).code).toBe(Code.NotFound);
    await new Promise((r) => setTimeout(r, 50));
    expect(unloaded).toBe(0);
    let tokens = first.value!.tokenIds.length;
    for (let m = await long.next(); !m.done; m = await long.next()) tokens += m.value.tokenIds.length;
    const streamEnded = performance.now();
    expect(await unloading).toMatchObject({ workerIds: ['w1'] });
    expect(unloaded).toBeGreaterThanOrEqual(streamEnded);
    expect(tokens).toBeGreaterThan(1);

    const { adapters } = await admin.loadAdapter({ name: 'tinygpt-chat', path: resolve(MODELS, 'tinygpt-jargon') }, AUTH);
    expect(adapters[0]!.digest).not.toBe(oldDigest);
    expect(await generate('tinygpt-chat', jargon.prompt, jargon.maxTokens)).toEqual(jargon.tokens);
  }, 60_000);

  it('refuses bad adapters naming the problem, never as a success, and keeps serving', async () => {
    const cases: [string, string, Code, RegExp][] = [
      ['missing path', '/nonexistent/adapter', Code.NotFound, /adapter_config\.json: not found in \/nonexistent\/adapter/],
      [
        'another base',
        temp(adapterCopy('tinygpt-jargon', (d) => editConfig(d, (c) => (c['base_model_name_or_path'] = 'tinyllama')))),
        Code.FailedPrecondition,
        /tinyllama.*does not serve/,
      ],
      [
        'rank too large',
        temp(adapterCopy('tinygpt-jargon', (d) => editConfig(d, (c) => (c['r'] = 128)))),
        Code.InvalidArgument,
        /r: rank 128 is over this worker's maximum of 64/,
      ],
      [
        'truncated weights',
        temp(
          adapterCopy('tinygpt-jargon', (d) =>
            writeFileSync(join(d, 'adapter_model.safetensors'), readFileSync(join(d, 'adapter_model.safetensors')).subarray(0, 1000)),
          ),
        ),
        Code.InvalidArgument,
        /adapter_model\.safetensors: /,
      ],
      [
        'unknown target module',
        temp(adapterCopy('tinygpt-jargon', (d) => editConfig(d, (c) => (c['target_modules'] = ['q_proj'])))),
        Code.InvalidArgument,
        /target_modules.*q_proj/,
      ],
    ];
    for (const [what, path, code, message] of cases) {
      const got = await codeOf(admin.loadAdapter({ name: 'bad', path }, AUTH));
      expect([what, got.code]).toEqual([what, code]);
      expect(got.message).toMatch(message);
    }
    expect((await codeOf(admin.loadAdapter({ path: resolve(MODELS, 'tinygpt-jargon'), name: 'tinygpt' }, AUTH))).code).toBe(Code.AlreadyExists);
    expect((await codeOf(admin.loadAdapter({ path: resolve(MODELS, 'tinygpt-jargon'), name: 'no/slashes' }, AUTH))).code).toBe(Code.InvalidArgument);
    expect((await codeOf(admin.unloadAdapter({ name: 'never-loaded' }, AUTH))).code).toBe(Code.NotFound);
    // Nothing half-loaded, the slot given back: the next good load takes it, and everything serves.
    expect((await admin.listAdapters({}, AUTH)).adapters.map((a) => a.name)).toEqual(['tinygpt-chat']);
    await admin.loadAdapter({ name: 'jargon2', path: resolve(MODELS, 'tinygpt-jargon') }, AUTH);
    expect(repo.resolve('jargon2')!.adapter!.slot).toBe(2);
    const base = expected((await loadReference(resolve(MODELS, 'tinygpt'))).cases[0]!);
    expect(await generate('tinygpt', base.prompt, base.maxTokens)).toEqual(base.tokens);
  }, 60_000);
});
