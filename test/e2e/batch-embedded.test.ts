import { type OtlpReceiver, startOtlpReceiver, startSupervisor, type SupervisorProcess, waitFor } from '@tokenmesh/testing';
import OpenAI, { toFile } from 'openai';

/**
 * OpenAI's Batch API through the official client against `npm start` (embedded bus and object
 * store, the batch service in the process): upload, create, poll, download; each line's answer
 * equals the same request sent directly.
 */
describe('batches through npm start (openai client)', () => {
  let mesh: SupervisorProcess;
  let client: OpenAI;
  let otlp: OtlpReceiver;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    mesh = await startSupervisor({
      INFERENCE_MODELS: 'models/tinygpt',
      TOKENIZER_MODELS: 'models/tinygpt',
      GATEWAY_DEFAULT_MODEL: 'tinygpt',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    client = new OpenAI({ baseURL: `${mesh.httpUrl}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
  }, 120_000);
  afterAll(async () => {
    await mesh?.stop(10_000);
    await otlp?.stop();
  });

  const completion = (n: number) => ({ model: 'tinygpt', prompt: `In the beginning ${n}`, max_tokens: 12, temperature: 0 });
  const seeded = (n: number) => ({ model: 'tinygpt', prompt: `And God said ${n}`, max_tokens: 12, temperature: 0.9, seed: 100 + n });

  async function finished(id: string): Promise<OpenAI.Batches.Batch> {
    let batch = await client.batches.retrieve(id);
    await waitFor(
      async () => {
        batch = await client.batches.retrieve(id);
        return ['completed', 'failed', 'cancelled', 'expired'].includes(batch.status);
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    return batch;
  }

  it('answers every line once, in the input order, as the direct requests answer; refused bodies go to the error file', async () => {
    const bodies = [completion(1), seeded(2), completion(3), seeded(4), { ...completion(5), max_tokens: -1 }, completion(6)];
    const text = bodies.map((body, i) => JSON.stringify({ custom_id: `req-${i + 1}`, method: 'POST', url: '/v1/completions', body })).join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'in.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/completions', completion_window: '24h', metadata: { job: 'e2e' } });
    expect(created).toMatchObject({ object: 'batch', endpoint: '/v1/completions', input_file_id: file.id, completion_window: '24h', metadata: { job: 'e2e' } });
    expect(['validating', 'in_progress']).toContain(created.status);

    const batch = await finished(created.id);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 6, completed: 5, failed: 1 });
    expect(batch.completed_at).toBeGreaterThanOrEqual(batch.created_at);
    const lines = (await (await client.files.content(batch.output_file_id!)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string; error: unknown; response: { status_code: number; body: OpenAI.Completion } });
    expect(lines.map((l) => l.custom_id)).toEqual(['req-1', 'req-2', 'req-3', 'req-4', 'req-6']);
    for (const l of lines) {
      expect(l.response.status_code).toBe(200);
      expect(l.error).toBeNull();
      const i = Number(l.custom_id.slice(4)) - 1;
      const direct = await client.completions.create({ ...bodies[i]!, user: `direct-${i}` } as OpenAI.CompletionCreateParamsNonStreaming);
      expect(l.response.body.choices[0]!.text).toBe(direct.choices[0]!.text);
      expect(l.response.body.usage).toEqual(direct.usage);
    }
    const errors = (await (await client.files.content(batch.error_file_id!)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number; body: { error: { param: string } } } });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ custom_id: 'req-5', response: { status_code: 400, body: { error: { param: 'max_tokens' } } } });

    const listed: string[] = [];
    for await (const b of client.batches.list()) listed.push(b.id);
    expect(listed).toContain(created.id);
    // Over: nothing left to cancel.
    await expect(client.batches.cancel(created.id)).rejects.toMatchObject({ status: 409 });
  }, 120_000);

  it("traces each line: a 'batch line' span linked to the batch's creation, and the gateway's spans of its request in the line's trace", async () => {
    const creation = '0af7651916cd43dd8448eb211c80319c';
    const text = [1, 2].map((n) => JSON.stringify({ custom_id: `t${n}`, method: 'POST', url: '/v1/completions', body: completion(n) })).join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'traced.jsonl'), purpose: 'batch' });
    const created = await client.batches.create(
      { input_file_id: file.id, endpoint: '/v1/completions', completion_window: '24h' },
      { headers: { traceparent: `00-${creation}-b7ad6b7169203331-01` } },
    );
    expect((await finished(created.id)).status).toBe('completed');
    const spans = await otlp.waitFor(
      (all) => all.filter((s) => s.name === 'batch line' && s.attributes['tokenmesh.batch.id'] === created.id).length >= 2,
      20_000,
    );
    const lines = spans.filter((s) => s.name === 'batch line' && s.attributes['tokenmesh.batch.id'] === created.id);
    expect(lines.map((s) => s.attributes['tokenmesh.batch.custom_id']).sort()).toEqual(['t1', 't2']);
    for (const line of lines) {
      expect(line.links.map((l) => l.traceId)).toContain(creation);
      expect(line.traceId).not.toBe(creation);
      await otlp.waitFor((all) => all.some((s) => s.traceId === line.traceId && s.parentSpanId === line.spanId), 20_000);
    }
  }, 60_000);

  it('refuses a batch whose lines are for another endpoint, naming them', async () => {
    const text = [
      JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/completions', body: completion(1) }),
      JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/chat/completions', body: { model: 'tinygpt', messages: [] } }),
    ].join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'mixed.jsonl'), purpose: 'batch' });
    const err = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/completions', completion_window: '24h' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, param: 'input_file_id' });
    expect((err as Error).message).toContain("line 2: url: is /v1/chat/completions, but the batch's endpoint is /v1/completions");
    await expect(client.batches.retrieve('batch_000000000000000000000000')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
