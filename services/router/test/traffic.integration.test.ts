import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { ConnectError } from '@connectrpc/connect';
import { metricSum } from '@tokenmesh/metrics';
import { FinishReason, GenerationService } from '@tokenmesh/proto';
import { createRuntime, createServiceClient, type RunningService, type ServiceClient, type ServiceRuntime } from '@tokenmesh/server';
import { type ServerHandle, type ServiceProcess, startNats, startServiceProcess, waitFor } from '@tokenmesh/testing';

import { loadConfig, start, VARIANT_HEADER } from '../src';

const MODEL = resolve(__dirname, '../../../models/tinygpt');

const split = (stable: number, candidate: number, shadowPercent = 0) => `
models:
  tinygpt:
    variants:
      - { name: stable, model: tinygpt@1, weight: ${stable} }
      - { name: candidate, model: tinygpt@2, weight: ${candidate} }
${shadowPercent ? `    shadow: { model: tinygpt@2, percent: ${shadowPercent} }` : ''}
`;

/**
 * One real worker serving tinygpt as two versions, a router in this process reading a traffic
 * config file that the test rewrites while streams are open.
 */
describe('traffic splits from a YAML file (real NATS, real worker)', () => {
  let nats: ServerHandle;
  let worker: ServiceProcess;
  let rt: ServiceRuntime;
  let router: RunningService;
  let client: ServiceClient<typeof GenerationService>;
  let dir: string;
  let file: string;

  const write = (text: string) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };

  async function generate(key: string, maxTokens = 2) {
    let header: string | null = null;
    const variants = new Set<string>();
    let tokens = 0;
    let finish = FinishReason.UNSPECIFIED;
    for await (const m of client.client.generate(
      { model: 'tinygpt', routingKey: key, promptTokenIds: [10, 20], sampling: { maxTokens, temperature: 0 } },
      { onHeader: (h) => (header = h.get(VARIANT_HEADER)), timeoutMs: 30_000 },
    )) {
      variants.add(m.variant);
      tokens += m.tokenIds.length;
      if (m.finishReason !== FinishReason.UNSPECIFIED) finish = m.finishReason;
    }
    return { header, variants: [...variants], tokens, finish };
  }

  const metric = (name: string, labels: Record<string, string>) => metricSum(rt.metrics, name, labels);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenmesh-traffic-'));
    file = join(dir, 'traffic.yaml');
    write(split(90, 10));
    nats = await startNats();
    worker = await startServiceProcess('inference', {
      NATS_URL: nats.url,
      INFERENCE_PORT: '0',
      INFERENCE_HTTP_PORT: '0',
      INFERENCE_MODELS: `tinygpt@1=${MODEL},tinygpt@2=${MODEL}`,
      INFERENCE_WORKER_ID: 'both',
      INFERENCE_HEARTBEAT_MS: '200',
      INFERENCE_STEP_DELAY_MS: '5',
    });
    rt = createRuntime('router');
    router = await start(
      loadConfig({
        NATS_URL: nats.url,
        ROUTER_PORT: '0',
        ROUTER_HTTP_PORT: '0',
        ROUTER_HEARTBEAT_MS: '200',
        ROUTER_CONFIG_FILE: file,
        ROUTER_CONFIG_POLL_MS: '50',
      }),
      rt,
    );
    client = createServiceClient(GenerationService, router.server.url);
    await waitFor(async () => (await client.client.listServedModels({})).models.length === 2, { timeoutMs: 5000 });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await router?.close(1000);
    await worker?.stop(5000);
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('rejects an invalid file at start, naming the variable and the problem', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, split(90, -1));
    expect(() => loadConfig({ NATS_URL: nats.url, ROUTER_CONFIG_FILE: bad })).toThrow(/ROUTER_CONFIG_FILE: .*variants\[1\]\.weight/);
  });

  it('splits 90/10 sticky by routing key, with the variant in the field and the header', async () => {
    const first = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      const r = await generate(`user-${i}`);
      expect(r.variants).toEqual([r.header]);
      first.set(`user-${i}`, r.header!);
    }
    const candidate = [...first.values()].filter((v) => v === 'candidate').length / first.size;
    // 300 keys: the 2-point bound is the unit test's (2,000 keys); here, a sanity band.
    expect(candidate).toBeGreaterThan(0.05);
    expect(candidate).toBeLessThan(0.15);
    for (const [key, variant] of [...first].slice(0, 60)) expect((await generate(key)).header).toBe(variant);
  }, 60_000);

  it('applies an edited file to new requests without dropping open streams, and keeps the old config on a bad edit', async () => {
    write(split(90, 10));
    const open = generate('user-0', 60);
    await new Promise((r) => setTimeout(r, 100));
    write(split(0, 100));
    await waitFor(async () => (await metric('tokenmesh_router_config_reloads_total', { outcome: 'ok' })) >= 1, { timeoutMs: 3000 });
    const during = await open;
    expect(during.tokens).toBe(60);
    expect(during.finish).toBe(FinishReason.LENGTH);
    for (let i = 0; i < 20; i++) expect((await generate(`new-${i}`)).header).toBe('candidate');
    write('models: { tinygpt: { variants: [] } }');
    await waitFor(async () => (await metric('tokenmesh_router_config_reloads_total', { outcome: 'error' })) >= 1, { timeoutMs: 3000 });
    for (let i = 0; i < 5; i++) expect((await generate(`after-bad-${i}`)).header).toBe('candidate');
  }, 60_000);

  it('mirrors shadow traffic: the caller sees only the primary, the shadow is measured', async () => {
    write(split(100, 0, 100));
    await waitFor(async () => (await generate('probe')).header === 'stable' && (await metric('tokenmesh_router_shadow_requests_total', {})) > 0, {
      timeoutMs: 3000,
    });
    const before = await metric('tokenmesh_router_shadow_requests_total', { model: 'tinygpt@2', outcome: 'ok' });
    for (let i = 0; i < 10; i++) {
      const r = await generate(`s-${i}`, 4);
      expect(r.variants).toEqual(['stable']);
      expect(r.tokens).toBe(4);
    }
    await waitFor(async () => (await metric('tokenmesh_router_shadow_requests_total', { model: 'tinygpt@2', outcome: 'ok' })) >= before + 10, {
      timeoutMs: 5000,
    });
    expect(await metric('tokenmesh_router_shadow_tokens_total', { model: 'tinygpt@2' })).toBeGreaterThanOrEqual(40);
  }, 60_000);

  it('a request naming a version bypasses the split', async () => {
    const r = await (async () => {
      const seen = new Set<string>();
      for await (const m of client.client.generate({ model: 'tinygpt@2', routingKey: 's-1', promptTokenIds: [1], sampling: { maxTokens: 1 } }))
        seen.add(m.model);
      return [...seen];
    })().catch((e: unknown) => ConnectError.from(e));
    expect(r).toEqual(['tinygpt@2']);
  });
});
