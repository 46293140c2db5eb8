import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startSupervisor, type SupervisorProcess, waitFor } from '@tokenmesh/testing';
import OpenAI, { toFile } from 'openai';

const sha = (k: string) => createHash('sha256').update(k).digest('hex');

/**
 * Batches under API keys, through `npm start` and the openai client: lines run as the batch's
 * owner (the batch service's token, made up by npm start), another key sees nothing of them,
 * and a cancel mid-batch ends it `cancelled` with the lines that ran.
 */
describe('batches with API keys: ownership and cancel', () => {
  let mesh: SupervisorProcess;
  let alice: OpenAI;
  let bob: OpenAI;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'batch-keys-'));
    writeFileSync(join(dir, 'keys.yaml'), `- { name: alice, sha256: ${sha('sk-alice')}, models: [tinygpt] }\n- { name: bob, sha256: ${sha('sk-bob')} }\n`);
    mesh = await startSupervisor({
      INFERENCE_MODELS: 'models/tinygpt',
      TOKENIZER_MODELS: 'models/tinygpt',
      GATEWAY_DEFAULT_MODEL: 'tinygpt',
      GATEWAY_API_KEYS_FILE: join(dir, 'keys.yaml'),
      // Slow steps and two lines at a time, so a cancel lands while lines are still queued.
      INFERENCE_STEP_DELAY_MS: '10',
      BATCH_CONCURRENCY: '2',
    });
    const client = (apiKey: string) => new OpenAI({ baseURL: `${mesh.httpUrl}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
    alice = client('sk-alice');
    bob = client('sk-bob');
  }, 120_000);
  afterAll(() => mesh?.stop(10_000));

  const input = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({
        custom_id: `c${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'tinygpt', messages: [{ role: 'user', content: `Line ${i}` }], max_tokens: 16, temperature: 0 },
      }),
    ).join('\n');

  it('another key can neither retrieve, cancel nor list the batch, nor read its files: 404, never 403', async () => {
    const file = await alice.files.create({ file: await toFile(Buffer.from(input(2)), 'two.jsonl'), purpose: 'batch' });
    const batch = await alice.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await expect(bob.batches.retrieve(batch.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(bob.batches.cancel(batch.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    // Bob cannot start a batch from Alice's file either.
    await expect(bob.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    const bobs: string[] = [];
    for await (const b of bob.batches.list()) bobs.push(b.id);
    expect(bobs).not.toContain(batch.id);

    let done = batch;
    await waitFor(async () => (done = await alice.batches.retrieve(batch.id)).status === 'completed', { timeoutMs: 60_000, intervalMs: 200 });
    // The lines ran as Alice (her key allows tinygpt; the batch service has no key of its own).
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    await expect(bob.files.content(done.output_file_id!)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const lines = (await (await alice.files.content(done.output_file_id!)).text()).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { response: { status_code: number } }).response.status_code)).toEqual([200, 200]);
  }, 90_000);

  it("a batch's lines keep the owner's model list: a model the key may not use is each line's 403 in the error file", async () => {
    const text = JSON.stringify({
      custom_id: 'x',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'tinygpt-chat', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 },
    });
    const file = await alice.files.create({ file: await toFile(Buffer.from(text), 'other-model.jsonl'), purpose: 'batch' });
    const batch = await alice.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    let done = batch;
    await waitFor(async () => (done = await alice.batches.retrieve(batch.id)).status === 'completed', { timeoutMs: 60_000, intervalMs: 200 });
    expect(done.request_counts).toEqual({ total: 1, completed: 0, failed: 1 });
    const error = JSON.parse(await (await alice.files.content(done.error_file_id!)).text()) as { response: { status_code: number } };
    expect(error.response.status_code).toBe(403);
  }, 90_000);

  it('cancel mid-batch: no new lines start, the batch ends cancelled with the output of the lines that ran', async () => {
    const file = await alice.files.create({ file: await toFile(Buffer.from(input(40)), 'forty.jsonl'), purpose: 'batch' });
    const batch = await alice.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(async () => (await alice.batches.retrieve(batch.id)).request_counts!.completed >= 3, { timeoutMs: 60_000, intervalMs: 50 });
    const cancelling = await alice.batches.cancel(batch.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    expect(cancelling.cancelling_at).toBeGreaterThan(0);
    let done = cancelling;
    await waitFor(async () => (done = await alice.batches.retrieve(batch.id)).status === 'cancelled', { timeoutMs: 60_000, intervalMs: 100 });
    const ran = done.request_counts!.completed;
    expect(ran).toBeGreaterThanOrEqual(3);
    expect(ran).toBeLessThan(40);
    expect(done.cancelled_at).toBeGreaterThan(0);
    const lines = (await (await alice.files.content(done.output_file_id!)).text()).trim().split('\n');
    expect(lines).toHaveLength(ran);
  }, 90_000);
});
