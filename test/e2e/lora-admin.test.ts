import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { startSupervisor, type SupervisorProcess } from '@tokenmesh/testing';

const TOKEN = 'e2e-operators-token-0123';
const MODELS = resolve(__dirname, '../../models');

/**
 * An operator loads, unloads and reloads a LoRA adapter through the gateway of `npm start`
 * (gateway → router → worker), as with vLLM's /v1/load_lora_adapter, and users see each change
 * at once: in the model list, in answers, and in the response cache, which never answers a
 * reloaded adapter with the old weights' text.
 */
async function call(mesh: SupervisorProcess, path: string, body?: unknown, token: string | null = TOKEN) {
  const r = await fetch(`${mesh.httpUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: r.status, cache: r.headers.get('x-tokenmesh-cache'), body: (await r.json()) as Record<string, any> };
}

const chatBody = (model: string) => ({ model, messages: [{ role: 'user', content: 'Who begat Enos?' }], temperature: 0, max_tokens: 24 });

describe('run-time LoRA adapters through the gateway (npm start)', () => {
  let mesh: SupervisorProcess;
  beforeAll(async () => {
    mesh = await startSupervisor({ INFERENCE_ADMIN_TOKEN: TOKEN });
  }, 120_000);
  afterAll(async () => {
    expect(await mesh?.stop()).toBe(0);
  }, 60_000);

  const admin = (path: string, body?: unknown, token: string | null = TOKEN) => call(mesh, path, body, token);
  const ask = (model: string) => call(mesh, '/v1/chat/completions', chatBody(model), null);

  it('needs the operators’ token; bad paths are errors naming the problem, never 200', async () => {
    expect((await admin('/v1/lora_adapters', undefined, null)).status).toBe(401);
    expect((await admin('/v1/load_lora_adapter', { lora_name: 'ops', lora_path: resolve(MODELS, 'tinygpt-chat') }, 'not-the-token')).status).toBe(401);
    const listed = await admin('/v1/lora_adapters');
    expect(listed.status).toBe(200);
    expect(listed.body['data'].map((a: Record<string, unknown>) => [a['name'], a['base'], a['from_config']])).toEqual([
      ['tinygpt-chat', 'tinygpt@1', true],
      ['tinygpt-jargon', 'tinygpt@1', true],
    ]);
    const missing = await admin('/v1/load_lora_adapter', { lora_name: 'ops', lora_path: '/nonexistent/adapter' });
    expect(missing.status).toBe(400);
    expect(missing.body['error']['message']).toMatch(/adapter_config\.json: not found in \/nonexistent\/adapter/);
    expect((await admin('/v1/load_lora_adapter', { lora_name: 'ops' })).body['error']).toMatchObject({ param: 'lora_path' });
  });

  it('load, serve, unload, reload under the same name with other weights: answers and cache follow each step', async () => {
    const chat = await ask('tinygpt-chat');
    const jargon = await ask('tinygpt-jargon');
    const textOf = (r: { body: Record<string, any> }) => r.body['choices'][0]['message']['content'] as string;
    expect(textOf(chat)).not.toBe(textOf(jargon));

    const loaded = await admin('/v1/load_lora_adapter', { lora_name: 'ops', lora_path: resolve(MODELS, 'tinygpt-chat') });
    expect(loaded).toMatchObject({ status: 200, body: { object: 'lora_adapter', name: 'ops', base: 'tinygpt@1', rank: 8 } });
    const models = await admin('/v1/models', undefined, null);
    expect(models.body['data']).toContainEqual(expect.objectContaining({ id: 'ops', parent: 'tinygpt' }));
    const first = await ask('ops');
    expect([first.status, first.cache, textOf(first)]).toEqual([200, 'miss', textOf(chat)]);
    expect((await ask('ops')).cache).toBe('hit');

    const unloaded = await admin('/v1/unload_lora_adapter', { lora_name: 'ops' });
    expect(unloaded).toMatchObject({ status: 200, body: { name: 'ops', unloaded: true } });
    const gone = await ask('ops');
    expect(gone.status).toBe(400);
    expect(gone.body['error']).toMatchObject({ code: 'model_not_found' });
    expect((await admin('/v1/unload_lora_adapter', { lora_name: 'ops' })).status).toBe(400);

    const reloaded = await admin('/v1/load_lora_adapter', { lora_name: 'ops', lora_path: resolve(MODELS, 'tinygpt-jargon') });
    expect(reloaded.status).toBe(200);
    expect(reloaded.body['digest']).not.toBe(loaded.body['digest']);
    const again = await ask('ops');
    // The old weights' cached answer is not served: a miss, answered by the new weights.
    expect([again.status, again.cache, textOf(again)]).toEqual([200, 'miss', textOf(jargon)]);
  }, 60_000);
});

/** API keys and adapters: a key's model list names adapters like any model; the operators' routes take the operators' token, not a key. */
describe('run-time LoRA adapters with API keys (npm start)', () => {
  const KEY = 'tm-chat-only-0123456789abcdefghijklmnop';
  let mesh: SupervisorProcess;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keys-'));
    const sha256 = createHash('sha256').update(KEY).digest('hex');
    writeFileSync(join(dir, 'keys.yaml'), `- name: chat-only\n  sha256: ${sha256}\n  models: [tinygpt-chat, ops]\n`);
    mesh = await startSupervisor({ INFERENCE_ADMIN_TOKEN: TOKEN, GATEWAY_API_KEYS_FILE: join(dir, 'keys.yaml') });
  }, 120_000);
  afterAll(async () => {
    expect(await mesh?.stop()).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a key limited to adapters uses them and nothing else; an adapter loaded later is usable once listed', async () => {
    expect((await call(mesh, '/v1/chat/completions', chatBody('tinygpt-chat'), KEY)).status).toBe(200);
    const base = await call(mesh, '/v1/chat/completions', chatBody('tinygpt'), KEY);
    expect([base.status, base.body['error']['code']]).toEqual([403, 'model_not_allowed']);
    // The operators' token is no API key, and an API key is no operators' token.
    expect((await call(mesh, '/v1/chat/completions', chatBody('tinygpt-chat'), TOKEN)).status).toBe(401);
    expect((await call(mesh, '/v1/load_lora_adapter', { lora_name: 'ops', lora_path: resolve(MODELS, 'tinygpt-jargon') }, KEY)).status).toBe(401);
    expect((await call(mesh, '/v1/load_lora_adapter', { lora_name: 'ops', lora_path: resolve(MODELS, 'tinygpt-jargon') }, TOKEN)).status).toBe(200);
    const ops = await call(mesh, '/v1/chat/completions', chatBody('ops'), KEY);
    expect([ops.status, ops.body['model']]).toEqual([200, 'ops@1']);
  }, 60_000);
});
