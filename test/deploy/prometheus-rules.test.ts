import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse, stringify } from 'yaml';

import { ROOT } from './k8s-render';
import { promtool } from './promtool';

const RULE_FILES = ['deploy/prometheus/rules.yml', 'deploy/prometheus/alerts.yml'];

type Rule = { record?: string; alert?: string; expr: string; annotations?: Record<string, string> };
const rules = RULE_FILES.flatMap((f) => (parse(readFileSync(join(ROOT, f), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules));

describe('deploy/prometheus', () => {
  it('promtool accepts the recording rules and the alerts', () => {
    expect(promtool('check', 'rules', ...RULE_FILES)).toMatch(/SUCCESS/);
  });

  it("the alerts fire on the conditions they name, as Prometheus's rule engine evaluates them (promtool test rules)", () => {
    expect(promtool('test', 'rules', 'test/deploy/prometheus/alerts.test.yml')).toMatch(/SUCCESS/);
  });

  it('every alert of the issue exists, links to its section of docs/operations.md, and reads only metrics the services declare', () => {
    const alerts = rules.filter((r) => r.alert).map((r) => r.alert!);
    for (const a of ['TimeToFirstTokenSLO', 'EndToEndLatencySLO', 'RpcErrorRatio', 'ModelUnserved', 'QueueGrowing', 'KvBudgetNearFull', 'StoreCircuitOpen', 'RouterBusDisconnected', 'FeedbackConsumerLag'])
      expect(alerts).toContain(`Tokenmesh${a}`);
    for (const r of rules.filter((x) => x.alert)) expect(r.annotations?.['runbook_url']).toBe(`docs/operations.md#${r.alert!.toLowerCase()}`);
    const sources = execFileSync('git', ['grep', '--untracked', '-hoE', "'[a-z][a-z0-9_]*_[a-z0-9_]+'", '--', 'services/*/src/*', 'libs/*/src/*'], { cwd: ROOT, encoding: 'utf8' });
    const declared = new Set([...sources.matchAll(/'([a-z0-9_]+)'/g)].map((m) => `tokenmesh_${m[1]}`));
    const recorded = new Set(rules.filter((r) => r.record).map((r) => r.record!));
    const used = rules.flatMap((r) => [...r.expr.matchAll(/\b(tokenmesh_[a-z0-9_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]!));
    expect(used.length).toBeGreaterThan(10);
    expect([...new Set(used)].filter((m) => !declared.has(m))).toEqual([]);
    const readRecords = rules.flatMap((r) => [...r.expr.matchAll(/\b(tokenmesh:[a-z0-9_:]+)/g)].map((m) => m[1]!));
    expect(readRecords.filter((m) => !recorded.has(m))).toEqual([]);
  });

  // The config names the rules by their path in the container: point it at the repository's files.
  // (Not the dev overlay's: Debian builds Prometheus without kubernetes_sd_configs.)
  it('promtool accepts the compose Prometheus config with the rule files it loads', () => {
    const config = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { rule_files: string[] };
    expect(config.rule_files.length).toBeGreaterThan(0);
    config.rule_files = RULE_FILES.map((f) => join(ROOT, f));
    const copy = join(mkdtempSync(join(tmpdir(), 'prometheus-')), 'prometheus.yml');
    writeFileSync(copy, stringify(config));
    expect(promtool('check', 'config', copy)).toMatch(/SUCCESS/);
  });
});
