import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse } from 'yaml';

import { dashboards, panelQueries } from './grafana-dashboards';
import { find, K8S, render, ROOT } from './k8s-render';

// Whether each panel returns data is checked against a real Prometheus in prometheus-live.test.ts.
describe('deploy/grafana', () => {
  const all = dashboards();

  it('has an overview and one dashboard per service, with unique uids', () => {
    expect(Object.keys(all).sort()).toEqual(['feedback.json', 'gateway.json', 'inference.json', 'overview.json', 'router.json', 'tokenizer.json']);
    const uids = Object.values(all).map((d) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
  });

  it('every panel queries a provisioned data source, on metrics the services declare', () => {
    const sources = (parse(readFileSync(join(ROOT, 'deploy/grafana/datasources.yml'), 'utf8')) as { datasources: { uid: string }[] }).datasources.map((d) => d.uid);
    const queries = panelQueries();
    expect(queries.length).toBeGreaterThan(40);
    for (const q of queries) expect(sources).toContain(q.datasource);
    const text = execFileSync('git', ['grep', '--untracked', '-hoE', "'[a-z][a-z0-9_]*_[a-z0-9_]+'", '--', 'services/*/src/*', 'libs/*/src/*'], { cwd: ROOT, encoding: 'utf8' });
    const declared = new Set([...text.matchAll(/'([a-z0-9_]+)'/g)].map((m) => `tokenmesh_${m[1]}`));
    const used = queries.flatMap((q) => [...q.expr.matchAll(/\b(tokenmesh_[a-z0-9_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]!));
    expect([...new Set(used)].filter((m) => !declared.has(m))).toEqual([]);
  });

  it('the dev overlay provisions every dashboard and both data sources into Grafana', () => {
    const dev = render(join(K8S, 'overlays/dev'));
    const cm = dev.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('grafana-dashboards-'))!;
    expect(Object.keys(cm.data!).sort()).toEqual(Object.keys(all).sort());
    const grafana = find(dev, 'Deployment', 'grafana')!;
    const volumes = (grafana.spec as { template: { spec: { volumes: { configMap: { name: string } }[] } } }).template.spec.volumes.map((v) => v.configMap.name);
    expect(volumes).toContain(cm.metadata.name);
    expect(volumes.some((v) => v.startsWith('grafana-datasources-'))).toBe(true);
  });
});
