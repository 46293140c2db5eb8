import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { startSupervisor, type SupervisorProcess } from '@tokenmesh/testing';

const ROOT = join(__dirname, '../../..');

/**
 * The README's first command: `npm start` serves the default models with no external services,
 * answers `/generate`, and on SIGTERM lets an open stream finish before it exits 0.
 */
describe('npm start', () => {
  let mesh: SupervisorProcess;

  beforeAll(async () => {
    mesh = await startSupervisor({ OTEL_TRACES_EXPORTER: 'none' });
  }, 120_000);
  afterAll(async () => {
    await mesh?.stop(5000);
  }, 30_000);

  it('is the supervisor, the entry point these tests start', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['start']).toBe('node --require tsx/cjs services/supervisor/src/main.ts');
  });

  it('prints every service URL and serves the default models', async () => {
    expect(Object.keys(mesh.extra).sort()).toEqual(['batch', 'feedback', 'gateway', 'inference', 'router', 'tokenizer']);
    expect(mesh.output()).toContain(mesh.httpUrl);
    // The playground, named in the banner and served (built by the gateway on this first request).
    expect(mesh.output()).toContain(`Playground (open in a browser)      ${mesh.httpUrl}/playground`);
    const page = await fetch(`${mesh.httpUrl}/playground`);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect(await page.text()).toContain('<title>tokenmesh playground</title>');
    const models = (await (await fetch(`${mesh.httpUrl}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(['tinygpt', 'tinyllama']));
  });

  it('answers read-only RPCs over Connect GET (cacheable), and refuses GET for the others', async () => {
    const get = (method: string) =>
      fetch(`${mesh.httpUrl}/tokenmesh.inference.v1.InferenceService/${method}?connect=v1&encoding=json&message=${encodeURIComponent('{}')}`);
    const models = await get('ListModels');
    expect(models.status).toBe(200);
    expect(((await models.json()) as { models: { name: string }[] }).models.map((m) => m.name)).toContain('tinygpt');
    expect((await get('Predict')).status).toBe(405);
  });

  it('answers /generate', async () => {
    const res = await fetch(`${mesh.httpUrl}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'In the beginning', max_tokens: 8, temperature: 0 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { text: string; usage: { completion_tokens: number } };
    expect(body.text.length).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBe(8);
    // REST requests are counted by route and status (they pass no RPC interceptor).
    const metrics = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
    // Label order is prom-client's (the runtime adds service="gateway"): look for each label.
    const series = (name: string, labels: Record<string, string>) =>
      metrics.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
    expect(series('tokenmesh_gateway_http_requests_total', { route: '/generate', method: 'POST', status: '200' })).toMatch(/ 1$/);
    expect(series('tokenmesh_gateway_http_request_duration_seconds_count', { route: '/generate', method: 'POST', status: '200' })).toMatch(/ 1$/);
    expect(series('tokenmesh_gateway_http_requests_total', { route: '/v1/models', method: 'GET', status: '200' })).toMatch(/ 1$/);
  });

  it('serves tinygpt’s chat adapter: the README’s chat example gets its answer', async () => {
    const res = await fetch(`${mesh.httpUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tinygpt-chat', messages: [{ role: 'user', content: 'Who begat Enos?' }], temperature: 0 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; choices: { message: { content: string }; finish_reason: string }[] };
    expect(body).toMatchObject({ model: 'tinygpt-chat@1', choices: [{ message: { content: 'Abia.' }, finish_reason: 'stop' }] });
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('{"model":"tinygpt-chat","messages":[{"role":"user","content":"Who begat Enos?"}],"temperature":0}');
  });

  it('drains on SIGTERM: the open stream ends with [DONE] and the process exits 0', async () => {
    const res = await fetch(`${mesh.httpUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'In the beginning', max_tokens: 200, temperature: 0, stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });
    const exited = mesh.stop(20_000);
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
    const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(text).not.toContain('"error"');
    const tokens = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)) as { choices: { text: string; finish_reason: string | null }[] });
    expect(tokens.at(-1)?.choices[0]?.finish_reason).toBe('length');
    expect(await exited).toBe(0);
  }, 60_000);
});
