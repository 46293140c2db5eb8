import { join, resolve } from 'node:path';

import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { FeedbackService } from '@tokenmesh/proto';
import { startSupervisor, type SupervisorProcess, waitFor } from '@tokenmesh/testing';

const ROOT = resolve(__dirname, '../..');
const MODELS = join(ROOT, 'models');

/**
 * tinygpt's fp32 and int8 versions served side by side by `npm start`, A/B-tested with the
 * example traffic config: requests for "tinygpt" split by user, each answer naming the version
 * that served it, feedback reported per variant.
 */
describe('fp32 against int8: an A/B test under npm start', () => {
  let mesh: SupervisorProcess;
  beforeAll(async () => {
    mesh = await startSupervisor({
      INFERENCE_MODELS: ['tinygpt', 'tinygpt-int8'].map((m) => join(MODELS, m)).join(','),
      INFERENCE_ADAPTERS: '',
      ROUTER_CONFIG_FILE: join(ROOT, 'deploy/router/traffic-int8-ab.yaml'),
    });
  }, 120_000);
  afterAll(async () => {
    expect(await mesh?.stop()).toBe(0);
  }, 60_000);

  it('splits users over both versions, sticky per user, and reports feedback per variant', async () => {
    const ask = async (user: string, prompt = `In the beginning ${user}`) => {
      const r = await fetch(`${mesh.httpUrl}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tinygpt', prompt, max_tokens: 8, temperature: 0, user }),
      });
      expect(r.status).toBe(200);
      return { id: r.headers.get('x-request-id'), body: (await r.json()) as Record<string, any> };
    };
    const served = new Map<string, string>();
    for (let i = 0; i < 16; i++) served.set(`user-${i}`, (await ask(`user-${i}`)).body['model'] as string);
    expect(new Set(served.values())).toEqual(new Set(['tinygpt@1', 'tinygpt@int8']));
    // Sticky: a user stays with its version.
    for (const [user, model] of [...served].slice(0, 4)) expect((await ask(user)).body['model']).toBe(model);

    const int8User = [...served].find(([, m]) => m === 'tinygpt@int8')![0];
    // A new prompt: a repeated one is answered from the response cache, not a new completion.
    const answer = await ask(int8User, 'And God said');
    expect(answer.body['model']).toBe('tinygpt@int8');
    const fb = await fetch(`${mesh.httpUrl}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: answer.id, rating: 1 }),
    });
    expect(await fb.json()).toMatchObject({ feedback_id: expect.any(String) });
    expect(fb.status).toBe(200);
    const feedback = createClient(FeedbackService, createConnectTransport({ baseUrl: mesh.extra['feedback']!.httpUrl, httpVersion: '1.1' }));
    const report = await waitFor(
      async () => {
        const rep = await feedback.getReport({});
        const int8 = rep.variants.find((v) => v.model === 'tinygpt@int8');
        if (!int8 || Number(int8.feedbackCount) < 1) throw new Error('not yet');
        return rep;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(
      report.variants
        .filter((v) => v.model.startsWith('tinygpt@'))
        .map((v) => [v.variant, v.model])
        .sort(),
    ).toEqual([
      ['fp32', 'tinygpt@1'],
      ['int8', 'tinygpt@int8'],
    ]);
  }, 120_000);
});
