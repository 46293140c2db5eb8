import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { loadConfig as feedbackConfig } from '@tokenmesh/feedback';
import { loadConfig as gatewayConfig } from '@tokenmesh/gateway';
import { loadConfig as inferenceConfig } from '@tokenmesh/inference';
import { loadConfig as routerConfig } from '@tokenmesh/router';
import { loadConfig as tokenizerConfig } from '@tokenmesh/tokenizer-service';
import { parse } from 'yaml';

const ROOT = resolve(__dirname, '../..');
type Service = { environment?: Record<string, string>; build?: { dockerfile: string } };
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const loaders: Record<string, (env: NodeJS.ProcessEnv) => { httpPort?: number }> = {
  gateway: gatewayConfig,
  tokenizer: tokenizerConfig,
  router: routerConfig,
  inference: inferenceConfig,
  feedback: feedbackConfig,
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

  it('runs NATS with JetStream, Redis, Jaeger with OTLP, and Prometheus scraping every service', () => {
    expect(compose.services['nats']).toMatchObject({ command: expect.arrayContaining(['-js']) });
    expect(compose.services['redis']).toBeDefined();
    expect(compose.services['jaeger']).toBeDefined();
    const prom = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const targets = prom.scrape_configs[0]!.static_configs[0]!.targets;
    for (const name of Object.keys(loaders)) {
      const env = compose.services[name]!.environment!;
      const port = name === 'gateway' ? env['GATEWAY_HTTP_PORT'] : env[`${name.toUpperCase()}_HTTP_PORT`];
      expect(targets).toContain(`${name}:${port}`);
    }
  });

  it("Prometheus's recording rules only read metrics the services declare", () => {
    const rules = readFileSync(join(ROOT, 'deploy/prometheus/rules.yml'), 'utf8');
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
