import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FILES_BUCKET, FileStore } from '@tokenmesh/batch';
import { NatsBus } from '@tokenmesh/bus';
import { type ServerHandle, startNats, waitFor } from '@tokenmesh/testing';
import OpenAI, { APIError, toFile } from 'openai';

import { restApi } from '../../../src/api/rest/rest-api';
import { ApiKeyAuth } from '../../../src/edge/auth/api-key-auth';
import { fileKeySource, sha256Hex } from '../../../src/edge/auth/api-keys';
import { fakeFeedback, listen } from '../../fakes';
import { inMemoryMesh } from '../../in-memory-mesh';

const line = (id: string, body: Record<string, unknown> = { model: 'tinyllama', prompt: 'Hi', max_tokens: 4 }, url = '/v1/completions') =>
  JSON.stringify({ custom_id: id, method: 'POST', url, body });

/** OpenAI's Files API through the official client, files in JetStream's object store (real nats-server), two API keys. */
describe('Files API (openai client, JetStream object store)', () => {
  let nats: ServerHandle;
  let bus: NatsBus;
  let http: Awaited<ReturnType<typeof listen>>;
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let alice: OpenAI;
  let bob: OpenAI;

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    bus = await NatsBus.connect(nats.url);
    mesh = await inMemoryMesh();
    const dir = mkdtempSync(join(tmpdir(), 'files-keys-'));
    const keysFile = join(dir, 'keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify([
        { name: 'alice', sha256: sha256Hex('sk-alice') },
        { name: 'bob', sha256: sha256Hex('sk-bob') },
      ]),
    );
    http = await listen(
      restApi({
        upstreams: mesh.upstreams,
        feedback: fakeFeedback(),
        bodyLimitBytes: 64 * 1024,
        auth: new ApiKeyAuth(await fileKeySource(keysFile)),
        files: { files: new FileStore(() => bus.objectBucket(FILES_BUCKET)), fileLimitBytes: 256 * 1024, maxBatchLines: 100 },
      }),
    );
    const client = (apiKey: string) => new OpenAI({ baseURL: `${http.base}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });
    alice = client('sk-alice');
    bob = client('sk-bob');
  });
  afterAll(async () => {
    await http.close();
    await mesh.close();
    await bus.close();
    await nats.stop();
  });

  it('files.create stores a batch input file; retrieve, list and content give it back; delete removes it', async () => {
    const text = [line('a'), line('b', { model: 'tinyllama', messages: [{ role: 'user', content: 'Hi' }] }, '/v1/chat/completions')].join('\n') + '\n';
    const created = await alice.files.create({ file: await toFile(Buffer.from(text), 'requests.jsonl'), purpose: 'batch' });
    expect(created).toMatchObject({ object: 'file', bytes: Buffer.byteLength(text), filename: 'requests.jsonl', purpose: 'batch', status: 'processed' });
    expect(created.id).toMatch(/^file-[0-9a-f]{24}$/);
    expect(Math.abs(created.created_at - Date.now() / 1000)).toBeLessThan(10);

    expect(await alice.files.retrieve(created.id)).toEqual(created);
    const listed: string[] = [];
    for await (const f of alice.files.list({ purpose: 'batch' })) listed.push(f.id);
    expect(listed).toContain(created.id);
    const content = await alice.files.content(created.id);
    expect(content.headers.get('content-type')).toBe('application/jsonl');
    expect(await content.text()).toBe(text);

    expect(await alice.files.delete(created.id)).toEqual({ id: created.id, object: 'file', deleted: true });
    await expect(alice.files.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(alice.files.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('another key can neither read, download, list nor delete the file: 404 as for no file, never 403', async () => {
    const created = await alice.files.create({ file: await toFile(Buffer.from(line('x')), 'mine.jsonl'), purpose: 'batch' });
    for (const call of [() => bob.files.retrieve(created.id), () => bob.files.content(created.id), () => bob.files.delete(created.id)]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as APIError).message).toContain(`No such File object: ${created.id}`);
    }
    const bobs: string[] = [];
    for await (const f of bob.files.list()) bobs.push(f.id);
    expect(bobs).not.toContain(created.id);
    // Still there for its owner.
    expect((await alice.files.retrieve(created.id)).id).toBe(created.id);
    // Without a key: 401 before any file is looked at.
    const anon = await fetch(`${http.base}/v1/files/${created.id}`);
    expect(anon.status).toBe(401);
  });

  it('refuses an invalid input file naming each bad line, and stores nothing', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => line(`r${i + 1}`));
    lines[16] = '{"custom_id": "r17", "method": "POST", ';
    lines[4] = line('r2');
    lines[7] = line('r8', {}, '/v1/embeddings');
    const before: string[] = [];
    for await (const f of alice.files.list()) before.push(f.id);
    const err = await alice.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'bad.jsonl'), purpose: 'batch' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as APIError;
    expect(e.param).toBe('file');
    expect(e.message).toContain('line 5: custom_id: "r2" is also on line 2');
    expect(e.message).toContain('line 8: url: must be one of /v1/completions, /v1/chat/completions, got "/v1/embeddings"');
    expect(e.message).toMatch(/line 17: not valid JSON/);
    const after: string[] = [];
    for await (const f of alice.files.list()) after.push(f.id);
    expect(after).toEqual(before);
  });

  it('refuses another purpose, a missing file part, a non-multipart body and a file over the limit, each naming what is wrong', async () => {
    const bad = await alice.files.create({ file: await toFile(Buffer.from(line('a')), 'a.jsonl'), purpose: 'fine-tune' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, param: 'purpose' });
    const form = new FormData();
    form.set('purpose', 'batch');
    const noFile = await fetch(`${http.base}/v1/files`, { method: 'POST', headers: { authorization: 'Bearer sk-alice' }, body: form });
    expect(noFile.status).toBe(400);
    expect(((await noFile.json()) as { error: { param: string } }).error.param).toBe('file');
    const json = await fetch(`${http.base}/v1/files`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-alice', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: { message: string } }).error.message).toContain('multipart/form-data');
    const big = Array.from({ length: 3000 }, (_, i) => line(`big${i}`)).join('\n');
    const tooBig = await alice.files.create({ file: await toFile(Buffer.from(big), 'big.jsonl'), purpose: 'batch' }).catch((e: unknown) => e);
    expect(tooBig).toMatchObject({ status: 413 });
  });

  it('lists newest first, pages with limit and after, and filters by purpose', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await bob.files.create({ file: await toFile(Buffer.from(line(`p${n}`)), `p${n}.jsonl`), purpose: 'batch' })).id);
    const page = await bob.files.list({ limit: 2 });
    expect(page.data.map((f) => f.id)).toEqual([ids[2], ids[1]]);
    expect(page.hasNextPage()).toBe(true);
    const all: string[] = [];
    for await (const f of bob.files.list({ limit: 1 })) all.push(f.id);
    expect(all.slice(0, 3)).toEqual([ids[2], ids[1], ids[0]]);
    expect((await bob.files.list({ purpose: 'assistants' })).data).toEqual([]);
  });

  it('keeps files across a NATS restart', async () => {
    const created = await alice.files.create({ file: await toFile(Buffer.from(line('kept')), 'kept.jsonl'), purpose: 'batch' });
    await nats.kill('SIGTERM');
    await nats.restart();
    await waitFor(() => bus.connected, { timeoutMs: 10_000 });
    expect(await (await alice.files.content(created.id)).text()).toBe(line('kept'));
  });
});
