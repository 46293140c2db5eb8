import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { type MeshProcesses, type ServerHandle, startMeshProcesses, startNats, startRedis, waitFor } from '@tokenmesh/testing';
import { parse, stringify } from 'yaml';

import { panelQueries } from './grafana-dashboards';
import { ROOT } from './k8s-render';
import { type PrometheusServer, startPrometheus } from './prometheus-server';

type Rule = { record?: string; alert?: string; expr: string; for?: string };
type RuleFile = { groups: { name: string; rules: Rule[] }[] };
const read = (f: string) => parse(readFileSync(join(ROOT, 'deploy/prometheus', f), 'utf8')) as RuleFile;
const recordingRules = read('rules.yml');
const alertRules = read('alerts.yml');
const rules = [...recordingRules.groups, ...alertRules.groups].flatMap((g) => g.rules);

/**
 * Series that exist only once something has failed (a labelled counter has no series before its
 * first increment): a healthy mesh cannot give them data. Their alerts are shown firing on
 * synthetic series by test/deploy/prometheus/alerts.test.yml instead.
 */
const ONLY_AFTER_A_FAILURE = new Set(['tokenmesh_gateway_rate_limit_store_errors_total', 'tokenmesh_outbox_shed_total']);

/** The metric and recording-rule names an expression reads. */
const namesIn = (expr: string) => [...new Set([...expr.matchAll(/\b(tokenmesh(?::[a-z0-9_]+)+|tokenmesh_[a-z0-9_]+?)(?:_bucket)?\b(?![:(])/g)].map((m) => m[1]!))];

// The whole mesh as processes, with NATS and Redis, scraped by a real Prometheus that evaluates
// deploy/prometheus/rules.yml and alerts.yml: no rule reads a series the services do not produce.
describe('the recording rules and alerts against a real Prometheus scraping the mesh', () => {
  let nats: ServerHandle;
  let redis: ServerHandle;
  let mesh: MeshProcesses;
  let prometheus: PrometheusServer;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    mesh = await startMeshProcesses({
      model: join(ROOT, 'models/tinygpt'),
      env: { NATS_URL: nats.url, REDIS_URL: redis.url, ROUTER_CONFIG_FILE: join(ROOT, 'deploy/router/traffic.yaml'), OTEL_TRACES_EXPORTER: 'none' },
      // Low enough that the traffic below is rate limited in the end.
      gateway: { GATEWAY_RATE_LIMIT_RPM: '12' },
    });
    // The alerts' `for` is promtool's to test; here an expression that holds fires at once.
    const immediate: RuleFile = { groups: alertRules.groups.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, for: '0s' })) })) };
    prometheus = await startPrometheus(
      mesh.all.map((p) => new URL(p.httpUrl).host),
      [stringify(recordingRules), stringify(immediate)],
    );
    const complete = (prompt: string) =>
      fetch(`${mesh.gateway.httpUrl}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tinygpt', prompt, max_tokens: 8, temperature: 0 }),
      }).then(async (res) => (await res.text(), res.status));
    // One Connect call (the gateway's RPC metrics), before the rate limit bites.
    const rpc = await fetch(`${mesh.gateway.httpUrl}/tokenmesh.inference.v1.InferenceService/Predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Let there be light', sampling: { maxTokens: 8, temperature: 0 } }),
    });
    expect(rpc.status).toBe(200);
    await rpc.text();
    // Distinct prompts reach the worker; repeats are cache hits; past 12 a minute, 429s.
    const statuses: number[] = [];
    for (const prompt of ['In the beginning', 'And God said', 'In the beginning', 'The hacker', 'In the beginning']) statuses.push(await complete(prompt));
    while (!statuses.includes(429) && statuses.length < 40) statuses.push(await complete(`request ${statuses.length}`));
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(5);
    expect(statuses).toContain(429);
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    await mesh?.stop();
    await Promise.all([nats?.stop(), redis?.stop()]);
  }, 60_000);

  it('scrapes every service', async () => {
    const healthy = async () => (await prometheus.query('up == 1')).map((r) => r.metric['instance']).sort();
    const all = mesh.all.map((p) => new URL(p.httpUrl).host).sort();
    await waitFor(async () => (await healthy()).length === all.length, { timeoutMs: 15_000, intervalMs: 250 }).catch(() => undefined);
    expect(await healthy()).toEqual(all);
  }, 20_000);

  it('every recording rule returns data', async () => {
    const records = rules.filter((r) => r.record).map((r) => r.record!);
    expect(records.length).toBeGreaterThan(5);
    const empty = async () => (await Promise.all(records.map(async (r) => ((await prometheus.query(r)).length > 0 ? undefined : r)))).filter(Boolean);
    await waitFor(async () => (await empty()).length === 0, { timeoutMs: 30_000, intervalMs: 500 }).catch(() => undefined);
    expect(await empty()).toEqual([]);
  }, 40_000);

  it('every series an alert expression reads has data (except failure-only counters)', async () => {
    const names = [...new Set(rules.filter((r) => r.alert).flatMap((r) => namesIn(r.expr)))].filter((n) => !ONLY_AFTER_A_FAILURE.has(n));
    expect(names.length).toBeGreaterThan(8);
    const empty = async () => (await Promise.all(names.map(async (n) => ((await prometheus.query(`count(${n})`)).length > 0 ? undefined : n)))).filter(Boolean);
    await waitFor(async () => (await empty()).length === 0, { timeoutMs: 30_000, intervalMs: 500 }).catch(() => undefined);
    expect(await empty()).toEqual([]);
  }, 40_000);

  it('every Grafana panel query returns data (no panel is silently empty)', async () => {
    const queries = panelQueries('1m');
    const empty = async () =>
      (await Promise.all(queries.map(async (q) => ((await prometheus.query(q.expr)).length > 0 ? undefined : `${q.dashboard} / ${q.panel}: ${q.expr}`)))).filter(Boolean);
    await waitFor(async () => (await empty()).length === 0, { timeoutMs: 30_000, intervalMs: 500 }).catch(() => undefined);
    expect(await empty()).toEqual([]);
  }, 40_000);

  it('no alert fires on a healthy mesh; stopping the only worker fires TokenmeshNoEligibleWorker and TokenmeshModelUnserved', async () => {
    expect(await prometheus.firing()).toEqual([]);
    await mesh.worker.stop();
    const firing = await waitFor(
      async () => {
        const f = await prometheus.firing();
        return f.includes('TokenmeshNoEligibleWorker') && f.includes('TokenmeshModelUnserved') && f;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(firing).toEqual(expect.arrayContaining(['TokenmeshNoEligibleWorker', 'TokenmeshModelUnserved']));
  }, 40_000);
});
