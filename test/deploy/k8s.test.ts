import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig as batchConfig } from '@tokenmesh/batch-service';
import { loadConfig as feedbackConfig } from '@tokenmesh/feedback';
import { loadConfig as gatewayConfig } from '@tokenmesh/gateway';
import { loadConfig as inferenceConfig } from '@tokenmesh/inference';
import { loadConfig as routerConfig } from '@tokenmesh/router';
import { DEFAULT_GRACE_MS } from '@tokenmesh/server';
import { loadConfig as tokenizerConfig } from '@tokenmesh/tokenizer-service';
import type { IContainer, IProbe } from 'kubernetes-models/v1';
import { stringify } from 'yaml';

import { containerEnv, EXTERNAL_SECRETS, find, K8S, type K8sObject, OVERLAYS, podSpec, render, ROOT, SERVICES } from './k8s-render';
import { schemaProblem } from './k8s-schemas';
import { ruleGroups, writePrometheusRule } from './prometheus-rule';
import { promtool } from './promtool';

if (process.env['UPDATE_PROMETHEUS_RULE']) writePrometheusRule();

type Listeners = { port?: number; grpcPort?: number; httpPort: number; drainMs?: number };
const loaders: Record<(typeof SERVICES)[number], (env: NodeJS.ProcessEnv) => Listeners> = {
  gateway: gatewayConfig,
  tokenizer: tokenizerConfig,
  router: routerConfig,
  inference: inferenceConfig,
  feedback: feedbackConfig,
  batch: batchConfig,
};
const rendered = Object.fromEntries(OVERLAYS.map((o) => [o, render(join(K8S, 'overlays', o))])) as Record<(typeof OVERLAYS)[number], K8sObject[]>;
const cases = OVERLAYS.flatMap((overlay) => SERVICES.map((service) => [overlay, service] as const));

/** Every metric name the services declare (string literals; the metrics lib adds tokenmesh_), as the compose test finds them. */
const declared = (() => {
  const sources = execFileSync('git', ['grep', '-hoE', "'[a-z][a-z0-9_]*_[a-z0-9_]+'", '--', 'services/*/src/*.ts', 'services/*/src/**/*.ts', 'libs/*/src/*.ts', 'libs/*/src/**/*.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return new Set([...sources.matchAll(/'([a-z0-9_]+)'/g)].map((m) => `tokenmesh_${m[1]}`));
})();
const metricsIn = (promql: string) => [...promql.matchAll(/\b(tokenmesh_[a-z0-9_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]!);

/** The environment variable names a service's code (or the libraries it runs on) reads. */
function readsVariable(service: string, name: string): boolean {
  const dirs = [`services/${service}/src`, 'libs/*/src/*'];
  try {
    execFileSync('git', ['grep', '--untracked', '-qF', `'${name}'`, '--', ...dirs], { cwd: ROOT });
    return true;
  } catch {
    return false;
  }
}

function deployment(overlay: (typeof OVERLAYS)[number], service: string): { pod: ReturnType<typeof podSpec>; container: IContainer; d: K8sObject } {
  const d = find(rendered[overlay], 'Deployment', service);
  if (!d) throw new Error(`${overlay}: no Deployment ${service}`);
  const pod = podSpec(d);
  return { d, pod, container: pod.containers.find((c) => c.name === service)! };
}

function preStopSeconds(c: IContainer): number {
  const cmd = c.lifecycle?.preStop?.exec?.command ?? [];
  return cmd[0] === 'sleep' ? Number(cmd[1]) : 0;
}

// No cluster here: the overlays are rendered by kubectl's kustomize and held to the schemas and
// to the code they configure.
describe('deploy/k8s', () => {
  it.each(OVERLAYS)('%s: every rendered object validates against its Kubernetes, KEDA or Prometheus Operator schema', (overlay) => {
    const problems = rendered[overlay].map((o) => [`${o.kind}/${o.metadata.name}`, schemaProblem(o)]).filter(([, p]) => p !== undefined);
    expect(problems).toEqual([]);
    expect(rendered[overlay].filter((o) => o.kind === 'Deployment').length).toBeGreaterThanOrEqual(SERVICES.length);
  });

  it('the base renders on its own, and the schema check rejects a broken object', () => {
    expect(render(join(K8S, 'base')).length).toBeGreaterThan(10);
    const broken = structuredClone(find(rendered.dev, 'Deployment', 'gateway')!);
    (podSpec(broken).containers[0]!.ports![0] as { containerPort: unknown }).containerPort = 'http';
    expect(schemaProblem(broken)).toMatch(/containerPort/);
  });

  it.each(cases)("%s %s: the container's environment is accepted by the service's own config loader, and names only variables it reads", (overlay, service) => {
    const { pod, container } = deployment(overlay, service);
    const env = containerEnv(rendered[overlay], pod, container);
    expect(env['SERVICE']).toBe(service);
    expect(() => loaders[service](env)).not.toThrow();
    const declaredNames = (container.env ?? []).map((v) => v.name);
    // SERVICE picks the program (the Dockerfile's CMD); POD_* exist only for $(…) expansion.
    const helpers = declaredNames.filter((n) => n.startsWith('POD_'));
    for (const h of helpers) expect((container.env ?? []).some((v) => v.value?.includes(`$(${h})`))).toBe(true);
    const unknown = declaredNames.filter((n) => n !== 'SERVICE' && !helpers.includes(n) && !readsVariable(service, n));
    expect(unknown).toEqual([]);
  });

  it.each(cases)('%s %s: probes and Service ports name ports the service really listens on', (overlay, service) => {
    const { pod, container } = deployment(overlay, service);
    const config = loaders[service](containerEnv(rendered[overlay], pod, container));
    const grpcPort = config.grpcPort ?? config.port!;
    const ports = container.ports ?? [];
    expect(ports.map((p) => p.containerPort).sort()).toEqual([grpcPort, config.httpPort].sort());
    const portOf = (p: number | string) => (typeof p === 'number' ? p : ports.find((cp) => cp.name === p)?.containerPort);
    const probes = [container.startupProbe, container.readinessProbe, container.livenessProbe] as (IProbe | undefined)[];
    expect(probes.every(Boolean)).toBe(true);
    for (const probe of probes) {
      if (probe?.grpc) expect(probe.grpc.port).toBe(grpcPort);
      else {
        expect(['/health', '/ready']).toContain(probe!.httpGet!.path);
        expect(portOf(probe!.httpGet!.port as number | string)).toBe(config.httpPort);
      }
    }
    // Liveness is the event loop (/health), never readiness: a busy or draining pod is not restarted.
    expect(container.livenessProbe!.httpGet?.path).toBe('/health');
    const svc = find(rendered[overlay], 'Service', service)!;
    for (const p of (svc.spec as { ports: { targetPort: string | number }[] }).ports) expect(portOf(p.targetPort)).toBeDefined();
  });

  it.each(cases)('%s %s: the termination grace period outlasts preStop plus the drain', (overlay, service) => {
    const { pod, container } = deployment(overlay, service);
    const config = loaders[service](containerEnv(rendered[overlay], pod, container));
    const drainMs = service === 'inference' ? config.drainMs! : DEFAULT_GRACE_MS;
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(preStopSeconds(container) * 1000 + drainMs);
  });

  it.each(cases)('%s %s: runs non-root, read-only, without capabilities, with requests and limits', (overlay, service) => {
    const { pod, container } = deployment(overlay, service);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.resources?.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(container.resources?.limits).toMatchObject({ memory: expect.anything() });
    expect(pod.topologySpreadConstraints?.length).toBeGreaterThan(0);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it.each(OVERLAYS)('%s: inference announces its pod IP and the router finds workers over NATS only', (overlay) => {
    const inf = deployment(overlay, 'inference');
    const env = containerEnv(rendered[overlay], inf.pod, inf.container);
    expect(inference(env).advertiseUrl).toBe('http://10.1.2.3:50054');
    expect(inf.container.env!.find((v) => v.name === 'POD_IP')!.valueFrom!.fieldRef!.fieldPath).toBe('status.podIP');
    const router = deployment(overlay, 'router');
    const cfg = routerConfig(containerEnv(rendered[overlay], router.pod, router.container));
    expect(cfg.workers).toEqual([]);
    expect(cfg.natsUrl).toBeDefined();
    expect(inference(env).natsUrl).toBe(cfg.natsUrl);
  });

  it.each(OVERLAYS)("%s: the router's traffic config is deploy/router/traffic.yaml, mounted as a directory so updates reach it", (overlay) => {
    const { pod, container } = deployment(overlay, 'router');
    const file = container.env!.find((v) => v.name === 'ROUTER_CONFIG_FILE')!.value!;
    const volume = pod.volumes!.find((v) => v.configMap)!;
    const mount = container.volumeMounts!.find((m) => m.name === volume.name)!;
    // A subPath mount is a copy the kubelet never updates.
    expect(mount.subPath).toBeUndefined();
    expect(file.startsWith(`${mount.mountPath}/`)).toBe(true);
    const cm = find(rendered[overlay], 'ConfigMap', volume.configMap!.name!)!;
    expect(cm.data![file.slice(mount.mountPath.length + 1)]).toBe(readFileSync(join(ROOT, 'deploy/router/traffic.yaml'), 'utf8'));
  });

  it('dev: one replica each, with in-cluster NATS (JetStream), Redis, Jaeger, Prometheus and Grafana', () => {
    for (const s of SERVICES) expect((deployment('dev', s).d.spec as { replicas: number }).replicas).toBe(1);
    const nats = deployment('dev', 'nats');
    expect(nats.pod.containers[0]!.args).toContain('-js');
    for (const dep of ['redis', 'jaeger', 'prometheus', 'grafana']) expect(find(rendered.dev, 'Service', dep)).toBeDefined();
    const gw = deployment('dev', 'gateway');
    expect(containerEnv(rendered.dev, gw.pod, gw.container)['NATS_URL']).toBe('nats://nats:4222');
  });

  it('production: two replicas or more, a disruption budget for each service, NATS and Redis from an external Secret', () => {
    const pdbs = rendered.production.filter((o) => o.kind === 'PodDisruptionBudget');
    for (const s of SERVICES) {
      const { d, container } = deployment('production', s);
      expect((d.spec as { replicas: number }).replicas).toBeGreaterThanOrEqual(2);
      expect(pdbs.some((p) => (p.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels['app.kubernetes.io/name'] === s)).toBe(true);
      for (const v of container.env ?? []) if (v.name === 'NATS_URL' || v.name === 'REDIS_URL') expect(v.valueFrom?.secretKeyRef?.name).toBe('tokenmesh-backends');
    }
    // The Secret is the operator's to create: none in the repository overrides it.
    expect(find(rendered.production, 'Secret', 'tokenmesh-backends')).toBeUndefined();
    const doc = readFileSync(join(K8S, 'overlays/production/kustomization.yaml'), 'utf8');
    for (const key of Object.keys(EXTERNAL_SECRETS['tokenmesh-backends']!)) expect(doc).toContain(`--from-literal=${key}=`);
  });

  it('production: KEDA scales inference on queue depth and the gateway on load, from 2 replicas, on metrics the services export', () => {
    const scaled = rendered.production.filter((o) => o.kind === 'ScaledObject');
    type Spec = { scaleTargetRef: { name: string }; minReplicaCount: number; triggers: { type: string; metadata: { query?: string } }[] };
    const byTarget = Object.fromEntries(scaled.map((o) => [(o.spec as Spec).scaleTargetRef.name, o.spec as Spec]));
    expect(Object.keys(byTarget).sort()).toEqual(['gateway', 'inference']);
    for (const [name, spec] of Object.entries(byTarget)) {
      expect(find(rendered.production, 'Deployment', name)).toBeDefined();
      expect(spec.minReplicaCount).toBeGreaterThanOrEqual(2);
      const queries = spec.triggers.filter((t) => t.type === 'prometheus').map((t) => t.metadata.query!);
      expect(queries.length).toBeGreaterThan(0);
      for (const q of queries) {
        expect(metricsIn(q).length).toBeGreaterThan(0);
        expect(metricsIn(q).filter((m) => !declared.has(m))).toEqual([]);
      }
    }
    expect(byTarget['inference']!.triggers.some((t) => t.metadata.query?.includes('tokenmesh_num_requests_waiting'))).toBe(true);
    // Batch lines held back by the workers' priority yield are no reason to add workers.
    const queue = byTarget['inference']!.triggers.find((t) => t.metadata.query?.includes('tokenmesh_num_requests_waiting_background'))?.metadata.query;
    expect(queue).toBeDefined();
    // As Prometheus evaluates it: w1 and w2 wait 6 and 4, w1's 2 of them batch lines; and while no
    // worker exports the background gauge yet (a rolling upgrade), the plain sum, not nothing.
    const series = (name: string, worker: string, value: number) => ({ series: `${name}{namespace="tokenmesh",instance="${worker}"}`, values: `${value}x4` });
    const waiting = [series('tokenmesh_num_requests_waiting', 'w1', 6), series('tokenmesh_num_requests_waiting', 'w2', 4)];
    const test = (input: object[], value: number) => ({
      interval: '15s',
      input_series: input,
      promql_expr_test: [{ expr: queue, eval_time: '30s', exp_samples: [{ labels: '{}', value }] }],
    });
    const file = join(mkdtempSync(join(tmpdir(), 'keda-')), 'queue.test.yml');
    writeFileSync(file, stringify({ rule_files: [], tests: [test([...waiting, series('tokenmesh_num_requests_waiting_background', 'w1', 2)], 8), test(waiting, 10)] }));
    expect(promtool('test', 'rules', file)).toMatch(/SUCCESS/);
  });

  it('production: the PrometheusRule carries exactly deploy/prometheus/rules.yml and alerts.yml; monitors scrape every service', () => {
    const rule = find(rendered.production, 'PrometheusRule', 'tokenmesh')!;
    // On drift: UPDATE_PROMETHEUS_RULE=1 npx jest test/deploy/k8s.test.ts
    expect((rule.spec as { groups: unknown[] }).groups).toEqual(ruleGroups());
    const sm = find(rendered.production, 'ServiceMonitor', 'tokenmesh')!.spec as { selector: { matchExpressions: { values: string[] }[] } };
    const pm = find(rendered.production, 'PodMonitor', 'inference')!.spec as { selector: { matchLabels: Record<string, string> } };
    expect([...sm.selector.matchExpressions[0]!.values, pm.selector.matchLabels['app.kubernetes.io/name']].sort()).toEqual([...SERVICES].sort());
  });

  it.each(OVERLAYS)('%s: ingress is denied by default; only the gateway admits anyone, inference only the router', (overlay) => {
    type Labels = { matchLabels?: Record<string, string> };
    type Policy = { podSelector: Labels; ingress?: { from?: { podSelector?: Labels }[] }[] };
    const policies = rendered[overlay].filter((o) => o.kind === 'NetworkPolicy').map((o) => o.spec as Policy);
    expect(policies.some((p) => Object.keys(p.podSelector).length === 0 && p.ingress === undefined)).toBe(true);
    const open = policies.filter((p) => p.ingress?.some((r) => r.from === undefined));
    expect(open.map((p) => p.podSelector.matchLabels?.['app.kubernetes.io/name'])).toEqual(['gateway']);
    const toWorkers = policies.filter((p) => p.podSelector.matchLabels?.['app.kubernetes.io/name'] === 'inference');
    expect(toWorkers.flatMap((p) => p.ingress!.flatMap((r) => r.from!.map((f) => f.podSelector?.matchLabels?.['app.kubernetes.io/name'])))).toEqual(['router']);
  });
});

function inference(env: NodeJS.ProcessEnv) {
  return inferenceConfig(env);
}
