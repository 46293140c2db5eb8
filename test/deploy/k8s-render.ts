import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { findBinary } from '@tokenmesh/testing';
import type { IContainer, IEnvVar, IPodSpec, IVolume } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(__dirname, '../..');
export const K8S = join(ROOT, 'deploy/k8s');
export const OVERLAYS = ['dev', 'production'] as const;
/** The tokenmesh services, as the SERVICE variable and the Deployment names call them. */
export const SERVICES = ['gateway', 'tokenizer', 'router', 'inference', 'feedback', 'batch'] as const;

/** A rendered Kubernetes object, as kustomize printed it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

/**
 * Values the cluster supplies that the repository cannot: the downward API's fields, and the
 * production Secret created by hand (deploy/k8s/overlays/production/kustomization.yaml shows how).
 */
const CLUSTER_FIELDS: Record<string, string> = { 'status.podIP': '10.1.2.3', 'metadata.name': 'inference-7d4b9c-x2x9k' };
export const EXTERNAL_SECRETS: Record<string, Record<string, string>> = {
  'tokenmesh-backends': { NATS_URL: 'tls://nats.example.internal:4222', REDIS_URL: 'rediss://redis.example.internal:6380' },
};

/** `kubectl kustomize dir`, parsed; kubectl as the tests find any server binary (KUBECTL_BIN overrides). */
export function render(dir: string): K8sObject[] {
  const kubectl = findBinary('kubectl', 'kubectl', process.env['KUBECTL_BIN']);
  const out = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length > 0) throw new Error(`${dir}: kustomize printed invalid YAML: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject;
  });
}

export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

export function podSpec(deployment: K8sObject): IPodSpec {
  return (deployment.spec as { template: { spec: IPodSpec } }).template.spec;
}

/** A Secret's or ConfigMap's entries as text; Secrets rendered by kustomize are base64. */
function entries(objects: readonly K8sObject[], kind: 'Secret' | 'ConfigMap', name: string): Record<string, string> | undefined {
  const o = find(objects, kind, name);
  if (!o) return kind === 'Secret' ? EXTERNAL_SECRETS[name] : undefined;
  const data = o.data ?? {};
  return kind === 'Secret' ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) : data;
}

/** The variable's value; undefined for an optional reference to what the cluster lacks (Kubernetes leaves it unset). */
function envValue(objects: readonly K8sObject[], v: IEnvVar): string | undefined {
  if (v.value !== undefined) return v.value;
  const from = v.valueFrom;
  if (from?.fieldRef) {
    const field = CLUSTER_FIELDS[from.fieldRef.fieldPath];
    if (field === undefined) throw new Error(`${v.name}: no sample value for field ${from.fieldRef.fieldPath}`);
    return field;
  }
  const ref = from?.secretKeyRef ?? from?.configMapKeyRef;
  if (!ref?.name) throw new Error(`${v.name}: unsupported valueFrom ${JSON.stringify(from)}`);
  const value = entries(objects, from?.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name)?.[ref.key];
  if (value === undefined && !ref.optional) throw new Error(`${v.name}: ${ref.name} has no key ${ref.key}`);
  return value;
}

/** Kubernetes' $(VAR) expansion of earlier variables of the same container. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m);
}

/**
 * A container's environment as its process would see it, with every path under a mounted
 * ConfigMap or Secret pointing at a temporary copy of that volume, and /app (the image's
 * WORKDIR) at the repository, so the service's own config loader can read the files it names.
 */
export function containerEnv(objects: readonly K8sObject[], pod: IPodSpec, container: IContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of container.env ?? []) {
    const value = envValue(objects, v);
    if (value !== undefined) env[v.name] = expand(value, env);
  }
  const mounts: [string, string][] = [['/app/', `${ROOT}/`]];
  for (const m of container.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find((vol: IVolume) => vol.name === m.name);
    const source = volume?.configMap ? entries(objects, 'ConfigMap', volume.configMap.name!) : volume?.secret ? entries(objects, 'Secret', volume.secret.secretName!) : undefined;
    if (!source) continue;
    const dir = mkdtempSync(join(tmpdir(), `k8s-${m.name}-`));
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries(source)) writeFileSync(join(dir, file), text);
    mounts.push([`${m.mountPath.replace(/\/$/, '')}/`, `${dir}/`]);
  }
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, mounts.reduce((value, [from, to]) => value.split(',').map((p) => (p.startsWith(from) ? to + p.slice(from.length) : p)).join(','), v)]),
  );
}
