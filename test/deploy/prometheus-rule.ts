import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse, stringify } from 'yaml';

import { ROOT } from './k8s-render';

export const PROMETHEUS_RULE_FILE = join(ROOT, 'deploy/k8s/components/monitoring/prometheus-rule.yaml');

/** The groups of deploy/prometheus/rules.yml and alerts.yml, in that order. */
export function ruleGroups(): unknown[] {
  return ['rules.yml', 'alerts.yml'].flatMap((f) => (parse(readFileSync(join(ROOT, 'deploy/prometheus', f), 'utf8')) as { groups: unknown[] }).groups);
}

/**
 * Rewrites the PrometheusRule from the rule files (the Prometheus Operator cannot read them, and
 * kustomize cannot turn a file into a CRD's spec): `UPDATE_PROMETHEUS_RULE=1 npx jest test/deploy/k8s.test.ts`.
 */
export function writePrometheusRule(): void {
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'tokenmesh', labels: { 'app.kubernetes.io/part-of': 'tokenmesh' } },
    spec: { groups: ruleGroups() },
  };
  const header = [
    '# GENERATED from deploy/prometheus/rules.yml and alerts.yml: edit those, then run',
    '#   UPDATE_PROMETHEUS_RULE=1 npx jest test/deploy/k8s.test.ts',
    '# (the test fails while this file and they differ).',
  ];
  writeFileSync(PROMETHEUS_RULE_FILE, `${header.join('\n')}\n${stringify(rule, { lineWidth: 0 })}`);
}
