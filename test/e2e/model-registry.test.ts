import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { startSupervisor, type SupervisorProcess } from '@tokenmesh/testing';

const TOKEN = 'e2e-operators-token-0123';
const MODELS = resolve(__dirname, '../../models');

/** A copy of the committed tinygpt as `<repo>/tinygpt/<version>` (its model-meta.json included). */
function version(repo: string, v: string): string {
  const dir = join(repo, 'tinygpt', v);
  mkdirSync(dir, { recursive: true });
  cpSync(join(MODELS, 'tinygpt'), dir, { recursive: true, filter: (src) => !src.includes('model_lora') && !src.endsWith('model_decode.onnx') });
  // Its metadata names the version it now is; the checksums stay true (same files).
  const metaFile = join(dir, 'model-meta.json');
  const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { files?: Record<string, unknown> };
  const files = Object.fromEntries(Object.entries(meta.files ?? {}).filter(([f]) => f === 'onnx/model.onnx'));
  writeFileSync(metaFile, JSON.stringify({ ...meta, version: v, files }));
  return dir;
}

async function call(mesh: SupervisorProcess, path: string, body?: unknown, token: string | null = TOKEN) {
  const r = await fetch(`${mesh.httpUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}

/** One SSE completion, read to its end: the text and whether it finished cleanly. */
async function stream(mesh: SupervisorProcess, model: string, maxTokens: number): Promise<{ status: number; text: string; done: boolean; served: string[] }> {
  const r = await fetch(`${mesh.httpUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'In the beginning', max_tokens: maxTokens, temperature: 0, stream: true }),
  });
  const raw = await r.text();
  if (r.status !== 200) return { status: r.status, text: raw, done: false, served: [] };
  const events = raw.split('\n\n').filter((e) => e.startsWith('data: '));
  const chunks = events.filter((e) => e !== 'data: [DONE]').map((e) => JSON.parse(e.slice(6)) as Record<string, any>);
  return {
    status: r.status,
    text: chunks.map((c) => c['choices']?.[0]?.['text'] ?? '').join(''),
    done: events.at(-1) === 'data: [DONE]',
    served: [...new Set(chunks.map((c) => c['model'] as string))],
  };
}

/**
 * The model lifecycle through the gateway of `npm start` (gateway → router → worker): an operator
 * loads a new version from the repository while streams run on the old one, splits traffic to
 * it, rolls the split back and unloads it; the registry shows each step and keeps the history.
 */
describe('the model registry (npm start)', () => {
  let mesh: SupervisorProcess;
  let repo: string;
  beforeAll(async () => {
    repo = mkdtempSync(join(tmpdir(), 'registry-e2e-'));
    const v1 = version(repo, '1');
    mesh = await startSupervisor({
      INFERENCE_ADMIN_TOKEN: TOKEN,
      INFERENCE_MODELS: `tinygpt@1=${v1}`,
      INFERENCE_ADAPTERS: '',
      INFERENCE_MODEL_REPOSITORY: repo,
      // The tokenizer is found by the model's name: the committed tinygpt's is the same file.
      TOKENIZER_MODELS: join(MODELS, 'tinygpt'),
      GATEWAY_DEFAULT_MODEL: 'tinygpt',
    });
  }, 120_000);
  afterAll(async () => {
    expect(await mesh?.stop()).toBe(0);
    rmSync(repo, { recursive: true, force: true });
  }, 60_000);

  const admin = (path: string, body?: unknown, token: string | null = TOKEN) => call(mesh, path, body, token);

  it('loads a version beside 8 running streams, splits traffic to it, rolls back and unloads, each step in the history', async () => {
    version(repo, '2');
    const reference = await stream(mesh, 'tinygpt@1', 48);
    expect(reference.text.length).toBeGreaterThan(0);
    expect(reference).toMatchObject({ status: 200, done: true });

    expect((await admin('/v1/registry/load', { model: 'tinygpt', version: '2' }, null)).status).toBe(401);
    const streams = Array.from({ length: 8 }, () => stream(mesh, 'tinygpt@1', 48));
    const load = await admin('/v1/registry/load', { model: 'tinygpt', version: '2' });
    expect(load.body).toMatchObject({ entry: expect.anything() });
    expect(load.status).toBe(200);
    expect(load.body['entry']).toMatchObject({ action: 'load', model: 'tinygpt', version: '2' });
    for (const s of await Promise.all(streams)) expect(s).toEqual(reference);

    const listed = await admin('/v1/registry/models?model=tinygpt');
    const versions = listed.body['models'][0]['versions'] as Record<string, any>[];
    expect(versions.map((v) => [v['version'], v['workerIds'].length])).toEqual([
      ['1', 1],
      ['2', 1],
    ]);
    expect(versions[1]!['meta']).toMatchObject({ onnxSha256: expect.stringMatching(/^[0-9a-f]{64}$/), onnxBytes: expect.any(String) });
    expect((await stream(mesh, 'tinygpt@2', 48)).text).toBe(reference.text);

    // All traffic for the bare name to version 2, then rolled back to none (the newest version again).
    const split = await admin('/v1/registry/traffic', { model: 'tinygpt', variants: [{ name: 'candidate', model: 'tinygpt@2', weight: 1 }] });
    expect(split.status).toBe(200);
    expect(split.body['split']).toMatchObject({ model: 'tinygpt', changedAtRunTime: true, variants: [{ name: 'candidate', model: 'tinygpt@2' }] });
    const bad = await admin('/v1/registry/traffic', { model: 'tinygpt', variants: [{ name: 'x', model: 'tinygpt@2', weight: 'heavy' }] });
    expect(bad.status).toBe(400);
    expect(bad.body['error']).toMatchObject({ param: 'variants[0].weight' });
    const ab = await admin('/v1/registry/traffic', {
      model: 'tinygpt',
      variants: [
        { name: 'stable', model: 'tinygpt@1', weight: 1 },
        { name: 'candidate', model: 'tinygpt@2', weight: 0 },
      ],
    });
    expect(ab.status).toBe(200);
    expect((await stream(mesh, 'tinygpt', 8)).served).toEqual(['tinygpt@1']);
    // /v1/models shows the split of the bare name, and each version the variants that reach it.
    const trafficOf = async (id: string) => ((await (await fetch(`${mesh.httpUrl}/v1/models/${id}`)).json()) as { traffic?: unknown[] }).traffic;
    expect(await trafficOf('tinygpt')).toEqual([
      { variant: 'stable', model: 'tinygpt@1', weight: 1, share: 1 },
      { variant: 'candidate', model: 'tinygpt@2', weight: 0, share: 0 },
    ]);
    expect(await trafficOf('tinygpt@2')).toEqual([{ model: 'tinygpt', variant: 'candidate', weight: 0, share: 0 }]);
    const back = await admin('/v1/registry/rollback', { model: 'tinygpt' });
    expect(back.status).toBe(200);
    expect(back.body['split']['variants']).toEqual([expect.objectContaining({ name: 'candidate', model: 'tinygpt@2' })]);
    expect((await stream(mesh, 'tinygpt', 8)).served).toEqual(['tinygpt@2']);
    // The rollback is visible in /v1/models too: the split it restored.
    expect(await trafficOf('tinygpt')).toEqual([{ variant: 'candidate', model: 'tinygpt@2', weight: 1, share: 1 }]);
    expect(await trafficOf('tinygpt@1')).toBeUndefined();
    expect((await admin('/v1/registry/models?model=tinygpt')).body['models'][0]['split']['variants']).toHaveLength(1);

    // A broken version: refused with its reason, recorded, never served.
    truncateSync(join(version(repo, 'broken'), 'onnx', 'model.onnx'), 4096);
    const broken = await admin('/v1/registry/load', { model: 'tinygpt', version: 'broken' });
    expect(broken.status).toBe(400);
    expect(broken.body['error']['message']).toMatch(/tinygpt@broken cannot be loaded: .*model\.onnx: 4096 bytes, model-meta\.json says/);

    await admin('/v1/registry/rollback', { model: 'tinygpt' });
    const unload = await admin('/v1/registry/unload', { model: 'tinygpt', version: '2' });
    expect(unload.status).toBe(200);
    // No worker serves it: unavailable, as while a version is still loading elsewhere.
    expect((await stream(mesh, 'tinygpt@2', 4)).status).toBe(503);

    const history = await admin('/v1/registry/history?model=tinygpt');
    expect(history.body['entries'].map((e: Record<string, any>) => e['action'])).toEqual([
      'unload',
      'rollback',
      'load-failed',
      'rollback',
      'traffic',
      'traffic',
      'load',
    ]);
    expect(history.body['entries'][2]['detail']).toMatch(/4096 bytes/);
  }, 120_000);
});
