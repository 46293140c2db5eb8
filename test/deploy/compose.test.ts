import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { loadConfig as batchConfig } from '@tokenmesh/batch-service';
import { loadConfig as feedbackConfig } from '@tokenmesh/feedback';
import { loadConfig as gatewayConfig } from '@tokenmesh/gateway';
import { loadConfig as inferenceConfig } from '@tokenmesh/inference';
import { loadConfig as routerConfig } from '@tokenmesh/router';
import { DEFAULT_GRACE_MS } from '@tokenmesh/server';
import { findBinary } from '@tokenmesh/testing';
import { loadConfig as tokenizerConfig } from '@tokenmesh/tokenizer-service';
import { parse } from 'yaml';

const ROOT = resolve(__dirname, '../..');
type Service = {
  environment?: Record<string, string>;
  build?: { dockerfile: string };
  healthcheck?: { test: string[]; start_period?: string };
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
};
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const loaders: Record<string, (env: NodeJS.ProcessEnv) => { httpPort?: number; drainMs?: number }> = {
  gateway: gatewayConfig,
  tokenizer: tokenizerConfig,
  router: routerConfig,
  inference: inferenceConfig,
  feedback: feedbackConfig,
  batch: batchConfig,
};

// No Docker engine here: the compose file is checked against the code it configures.
describe('docker-compose.yml', () => {
  it.each(Object.keys(loaders))('%s: its environment is a valid configuration of that service', (name) => {
    const svc = compose.services[name]!;
    const env = svc.environment!;
    expect(env['SERVICE']).toBe(name);
    expect(existsSync(join(ROOT, 'services', name, 'src', 'main.ts'))).toBe(true);
    expect(existsSync(join(ROOT, svc.build!.dockerfile))).toBe(true);
    // Model paths are container paths under /app: map them to the repository for the check.
    const local = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replaceAll('/app/', `${ROOT}/`)]));
    expect(() => loaders[name]!(local)).not.toThrow();
  });

  it('runs NATS with JetStream, Redis, Jaeger with OTLP, and Prometheus finding every replica of every service by DNS', () => {
    expect(compose.services['nats']).toMatchObject({ command: expect.arrayContaining(['-js']) });
    expect(compose.services['redis']).toBeDefined();
    expect(compose.services['jaeger']).toBeDefined();
    type Dns = { names: string[]; type: string; port: number };
    const prom = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { dns_sd_configs: Dns[] }[] };
    // A static target is one address however many replicas `--scale` starts; DNS (type A) lists them all.
    const sd = prom.scrape_configs[0]!.dns_sd_configs;
    for (const name of Object.keys(loaders)) {
      const env = compose.services[name]!.environment!;
      const port = name === 'gateway' ? env['GATEWAY_HTTP_PORT'] : env[`${name.toUpperCase()}_HTTP_PORT`];
      expect(sd).toContainEqual(expect.objectContaining({ names: [name], type: 'A', port: Number(port) }));
    }
    // Every rule file it loads is mounted where it looks.
    const mounts = compose.services['prometheus']!.volumes!.map((v) => v.split(':')[1]);
    for (const f of prom.rule_files) expect(mounts).toContain(f);
    const grafana = compose.services['grafana']!.volumes!.map((v) => v.split(':')[0]!);
    for (const f of grafana) expect(existsSync(join(ROOT, f))).toBe(true);
  });

  it.each(Object.keys(loaders))('%s: has a healthcheck, and Docker waits longer than its graceful close before SIGKILL', (name) => {
    const svc = compose.services[name]!;
    expect(svc.healthcheck?.test).toEqual(['CMD', 'node', 'deploy/docker/healthcheck.cjs']);
    const env = Object.fromEntries(Object.entries(svc.environment!).map(([k, v]) => [k, String(v).replaceAll('/app/', `${ROOT}/`)]));
    const closeMs = name === 'inference' ? loaders[name]!(env).drainMs! : DEFAULT_GRACE_MS;
    expect(seconds(svc.stop_grace_period ?? '10s') * 1000).toBeGreaterThan(closeMs);
  });

  it('services start only once what they depend on is healthy', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.depends_on === undefined || name === 'grafana') continue;
      expect(Array.isArray(svc.depends_on)).toBe(false);
      for (const [dep, { condition }] of Object.entries(svc.depends_on)) {
        expect(condition).toBe('service_healthy');
        expect(compose.services[dep]!.healthcheck).toBeDefined();
      }
    }
  });

  it("Debian's docker-compose accepts the file", () => {
    const bin = findBinary('docker-compose', 'docker-compose', process.env['DOCKER_COMPOSE_BIN']);
    expect(() => execFileSync(bin, ['-f', join(ROOT, 'docker-compose.yml'), 'config', '-q'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })).not.toThrow();
  });

  it("Prometheus's recording rules only read metrics the services declare", () => {
    const rules = readFileSync(join(ROOT, 'deploy/prometheus/rules.yml'), 'utf8');
    // (alerts.yml: test/deploy/prometheus-rules.test.ts)
    const groups = (parse(rules) as { groups: { rules: { record: string; expr: string }[] }[] }).groups;
    expect(groups[0]!.rules.length).toBeGreaterThan(0);
    // Metric names are declared as string literals without the tokenmesh_ prefix (the metrics lib adds it).
    const sources = execFileSync('git', ['grep', '-hoE', "'[a-z][a-z0-9_]*_[a-z0-9_]+'", '--', 'services/*/src/*.ts', 'services/*/src/**/*.ts', 'libs/*/src/*.ts'], { cwd: ROOT, encoding: 'utf8' });
    const declared = new Set([...sources.matchAll(/'([a-z0-9_]+)'/g)].map((m) => `tokenmesh_${m[1]}`));
    const used = new Set([...rules.matchAll(/\b(tokenmesh_[a-z_]+?)(?:_bucket)?\b/g)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThan(3);
    expect([...used].filter((m) => !declared.has(m))).toEqual([]);
  });
});

/** A compose duration ("20s", "2m", "1m30s") in seconds. */
function seconds(d: string): number {
  return [...d.matchAll(/(\d+)(h|m|s)/g)].reduce((t, [, n, u]) => t + Number(n) * { h: 3600, m: 60, s: 1 }[u as 'h' | 'm' | 's'], 0);
}
