import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { PodMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';

import type { K8sObject } from './k8s-render';

interface Validatable {
  validate(): void;
}

/**
 * The JSON schemas (Kubernetes OpenAPI, KEDA and Prometheus Operator CRDs, as packaged by
 * kubernetes-models) of every kind the overlays render; a kind missing here fails the test.
 */
const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/** The schema's complaint about `o`, or undefined when it validates. */
export function schemaProblem(o: K8sObject): string | undefined {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!Model) return `no schema known for ${o.apiVersion} ${o.kind}`;
  // kustomize folds long base64 over lines; the API server's decoder (Go's encoding/base64)
  // skips newlines, the schema's "byte" format does not.
  const data = o.kind === 'Secret' && o.data ? Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, v.replace(/[\r\n]/g, '')])) : o.data;
  try {
    new Model({ ...o, ...(data && { data }) } as never).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
