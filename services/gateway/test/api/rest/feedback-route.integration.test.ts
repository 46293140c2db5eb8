import { createClient, createRouterTransport } from '@connectrpc/connect';
import { FeedbackService, FinishReason, type SubmitFeedbackRequest } from '@tokenmesh/proto';
import { MemoryStore } from '@tokenmesh/store';

import { restApi } from '../../../src/api/rest/rest-api';
import type { Upstreams } from '../../../src/pipeline/generate-text';
import { IssuedRequests } from '../../../src/pipeline/issued-requests';
import { byteTokenizer, fakeRouter, listen } from '../../fakes';

// /feedback takes only request ids the gateway issued, with the served model and variant.
describe('POST /feedback against the record of issued completions', () => {
  const store = new MemoryStore();
  const submitted: SubmitFeedbackRequest[] = [];
  const servers: Awaited<ReturnType<typeof listen>>[] = [];

  /** A gateway whose completions are served by tinygpt@1 variant "b", sharing `store` with the others. */
  async function gateway(): Promise<string> {
    const issued = new IssuedRequests(store);
    const router = fakeRouter(async function* () {
      yield { tokenIds: [97], finishReason: FinishReason.LENGTH, model: 'tinygpt@1', variant: 'b' };
    });
    const feedback = createClient(
      FeedbackService,
      createRouterTransport((r) =>
        r.service(FeedbackService, {
          submitFeedback: (req) => {
            submitted.push(req);
            return { feedbackId: `fb-${req.requestId}` };
          },
        }),
      ),
    );
    const upstreams: Upstreams = { tokenizer: byteTokenizer(), router, defaultModel: 'tinygpt', completions: (r) => issued.remember(r) };
    const http = await listen(restApi({ upstreams, feedback, bodyLimitBytes: 4096, issued }));
    servers.push(http);
    return http.base;
  }

  let base: string;
  let replica: string;
  beforeAll(async () => {
    [base, replica] = [await gateway(), await gateway()];
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await store.close();
  });

  const post = (b: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(b + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  async function complete(requestId: string): Promise<void> {
    const res = await post(base, '/v1/completions', { model: 'tinygpt', prompt: 'hi', max_tokens: 1 }, { 'x-request-id': requestId });
    expect(res.status).toBe(200);
    await res.text();
  }

  it('answers 400 (NOT_FOUND, the gateway maps it to 400 as for models) naming request_id for an id the gateway never issued, and forwards nothing', async () => {
    const res = await post(base, '/feedback', { request_id: 'never-issued', rating: 1 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { param: string; message: string } };
    expect(body.error.param).toBe('request_id');
    expect(body.error.message).toMatch(/^request_id: /);
    expect(submitted.filter((s) => s.requestId === 'never-issued')).toEqual([]);
  });

  it('takes model and variant from the completion, on any replica sharing the store', async () => {
    await complete('req-1');
    for (const b of [base, replica]) {
      const res = await post(b, '/feedback', { request_id: 'req-1', rating: 1 });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ feedback_id: 'fb-req-1' });
    }
    expect(submitted.filter((s) => s.requestId === 'req-1').map((s) => [s.model, s.variant])).toEqual([
      ['tinygpt@1', 'b'],
      ['tinygpt@1', 'b'],
    ]);
  });

  it('accepts a body naming the served model and variant, and refuses other names with a 400 naming the field', async () => {
    await complete('req-2');
    expect((await post(base, '/feedback', { request_id: 'req-2', rating: 0, model: 'tinygpt@1', variant: 'b' })).status).toBe(200);
    for (const [field, value] of [
      ['model', '../../etc/passwd'],
      ['model', 'x'.repeat(10_000 / 4)],
      ['variant', 'a'],
    ] as const) {
      const res = await post(base, '/feedback', { request_id: 'req-2', rating: 0, [field]: value });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe(field);
    }
    expect(submitted.filter((s) => s.requestId === 'req-2')).toHaveLength(1);
  });
});
