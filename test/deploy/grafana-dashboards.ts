import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT } from './k8s-render';

export const DASHBOARDS = join(ROOT, 'deploy/grafana/dashboards');

/** One query of one panel. */
export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly expr: string;
  readonly datasource: string;
}

type Source = { uid: string };
type Dashboard = { uid: string; title: string; panels: { title: string; datasource: Source; targets: { expr: string; datasource?: Source }[] }[] };

/** Every dashboard JSON file in deploy/grafana/dashboards, by file name. */
export function dashboards(): Record<string, Dashboard> {
  const files = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));
  return Object.fromEntries(files.map((f) => [f, JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as Dashboard]));
}

/** Every panel query, with Grafana's $__rate_interval made concrete (`rateInterval`) for Prometheus. */
export function panelQueries(rateInterval = '1m'): PanelQuery[] {
  return Object.entries(dashboards()).flatMap(([file, d]) =>
    d.panels.flatMap((p) =>
      p.targets.map((t) => ({
        dashboard: file,
        panel: p.title,
        expr: t.expr.replaceAll('$__rate_interval', rateInterval),
        datasource: (t.datasource ?? p.datasource).uid,
      })),
    ),
  );
}
