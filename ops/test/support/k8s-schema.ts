/**
 * Offline validation of rendered Kubernetes objects, two layers:
 *  1. kubernetes-models (the Kubernetes OpenAPI schemas compiled to validators): types, enums,
 *     formats, required fields. Its schemas allow unknown properties, hence
 *  2. a strict unknown-field walk over @kubernetes/client-node's generated model metadata
 *     (attributeTypeMap of every API type), like `kubectl --validate=strict` would do with a server.
 */
import * as k8s from '@kubernetes/client-node';
import { Service, ServiceAccount, Secret, ConfigMap, Pod, PersistentVolumeClaim, Namespace } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1';
import type { K8sObject } from '../../src/chart.ts';

type ModelClass = new (data: any) => { validate(): void };

/** apiVersion/kind -> [kubernetes-models class, client-node model name]. Unknown kinds fail. */
const KINDS: Record<string, [ModelClass, string]> = {
  'v1/Service': [Service, 'V1Service'],
  'v1/ServiceAccount': [ServiceAccount, 'V1ServiceAccount'],
  'v1/Secret': [Secret, 'V1Secret'],
  'v1/ConfigMap': [ConfigMap, 'V1ConfigMap'],
  'v1/Pod': [Pod, 'V1Pod'],
  'v1/PersistentVolumeClaim': [PersistentVolumeClaim, 'V1PersistentVolumeClaim'],
  'v1/Namespace': [Namespace, 'V1Namespace'],
  'apps/v1/Deployment': [Deployment, 'V1Deployment'],
  'apps/v1/StatefulSet': [StatefulSet, 'V1StatefulSet'],
  'batch/v1/Job': [Job, 'V1Job'],
  'policy/v1/PodDisruptionBudget': [PodDisruptionBudget, 'V1PodDisruptionBudget'],
  'autoscaling/v2/HorizontalPodAutoscaler': [HorizontalPodAutoscaler, 'V2HorizontalPodAutoscaler'],
  'networking.k8s.io/v1/NetworkPolicy': [NetworkPolicy, 'V1NetworkPolicy'],
  // The operator chart (charts/logbus-operator).
  'apiextensions.k8s.io/v1/CustomResourceDefinition': [CustomResourceDefinition, 'V1CustomResourceDefinition'],
  'rbac.authorization.k8s.io/v1/ClusterRole': [ClusterRole, 'V1ClusterRole'],
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': [ClusterRoleBinding, 'V1ClusterRoleBinding'],
  'rbac.authorization.k8s.io/v1/Role': [Role, 'V1Role'],
  'rbac.authorization.k8s.io/v1/RoleBinding': [RoleBinding, 'V1RoleBinding'],
  'coordination.k8s.io/v1/Lease': [Lease, 'V1Lease'],
  'networking.k8s.io/v1/Ingress': [Ingress, 'V1Ingress'],
};

const MODELS = k8s as unknown as Record<string, { attributeTypeMap?: { baseName: string; type: string }[] }>;

/**
 * Gateway API v1 HTTPRoute: no generated model of it ships with our packages, so the fields a
 * route may hold (from the v1 CRD's schema; filters, header and query matches left open) are
 * listed here in the shape of client-node's metadata, for the same unknown-field walk.
 */
const GATEWAY_TYPES: Record<string, Record<string, string>> = {
  GatewayHTTPRoute: { apiVersion: 'string', kind: 'string', metadata: 'V1ObjectMeta', spec: 'GatewayHTTPRouteSpec' },
  GatewayHTTPRouteSpec: { parentRefs: 'Array<GatewayParentReference>', hostnames: 'Array<string>', rules: 'Array<GatewayHTTPRouteRule>' },
  GatewayParentReference: { group: 'string', kind: 'string', namespace: 'string', name: 'string', sectionName: 'string', port: 'number' },
  GatewayHTTPRouteRule: {
    name: 'string',
    matches: 'Array<GatewayHTTPRouteMatch>',
    filters: 'Array<object>',
    backendRefs: 'Array<GatewayHTTPBackendRef>',
    timeouts: 'GatewayHTTPRouteTimeouts',
  },
  GatewayHTTPRouteMatch: { path: 'GatewayHTTPPathMatch', headers: 'Array<object>', queryParams: 'Array<object>', method: 'string' },
  GatewayHTTPPathMatch: { type: 'string', value: 'string' },
  GatewayHTTPBackendRef: {
    group: 'string',
    kind: 'string',
    name: 'string',
    namespace: 'string',
    port: 'number',
    weight: 'number',
    filters: 'Array<object>',
  },
  GatewayHTTPRouteTimeouts: { request: 'string', backendRequest: 'string' },
};
const GATEWAY_MODELS: Record<string, { baseName: string; type: string }[]> = Object.fromEntries(
  Object.entries(GATEWAY_TYPES).map(([name, fields]) => [name, Object.entries(fields).map(([baseName, type]) => ({ baseName, type }))]),
);

/** The CRD's own rules that a field walk does not see: required names, enums, durations. */
function httpRouteProblems(route: K8sObject): string[] {
  const id = `HTTPRoute/${route.metadata?.name}`;
  const out: string[] = [];
  const duration = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
  if (!route.spec?.parentRefs?.length) out.push(`${id}: spec.parentRefs is empty`);
  for (const ref of route.spec?.parentRefs ?? []) if (!ref.name) out.push(`${id}: a parentRef without name`);
  for (const rule of route.spec?.rules ?? []) {
    for (const match of rule.matches ?? [])
      if (match.path && !['Exact', 'PathPrefix', 'RegularExpression'].includes(match.path.type)) out.push(`${id}: path type ${match.path.type}`);
    for (const ref of rule.backendRefs ?? []) {
      if (!ref.name) out.push(`${id}: a backendRef without name`);
      if ((ref.kind ?? 'Service') === 'Service' && !Number.isInteger(ref.port)) out.push(`${id}: a Service backendRef needs a port`);
    }
    for (const [key, value] of Object.entries(rule.timeouts ?? {}))
      if (!duration.test(String(value))) out.push(`${id}: timeouts.${key} ${value} is not a Gateway API duration`);
  }
  return out;
}
const PRIMITIVE: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  number: (v) => typeof v === 'number',
  boolean: (v) => typeof v === 'boolean',
  Date: (v) => typeof v === 'string',
  IntOrString: (v) => typeof v === 'string' || Number.isInteger(v),
  any: () => true,
  object: () => true,
};

/** Unknown or mistyped fields, as "path: message" strings. */
export function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const primitive = PRIMITIVE[type];
  if (primitive) return primitive(value) ? [] : [`${path}: expected ${type}, got ${JSON.stringify(value)}`];
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (!Array.isArray(value)) return [`${path}: expected a list`];
    return value.flatMap((v, i) => unknownFields(v, arr[1]!, `${path}[${i}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected a map`];
    return Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`));
  }
  const attrs = MODELS[type]?.attributeTypeMap ?? GATEWAY_MODELS[type];
  if (!attrs) throw new Error(`no model metadata for ${type} (at ${path})`);
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object (${type})`];
  const errors: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const attr = attrs.find((a) => a.baseName === key);
    if (!attr) errors.push(`${path}.${key}: unknown field in ${type}`);
    else errors.push(...unknownFields(v, attr.type, `${path}.${key}`));
  }
  return errors;
}

/** All schema problems of one object; empty when valid. */
export function validateObject(obj: K8sObject): string[] {
  const id = `${obj?.kind}/${obj?.metadata?.name}`;
  if (obj?.apiVersion === 'gateway.networking.k8s.io/v1' && obj.kind === 'HTTPRoute') {
    return [...httpRouteProblems(obj), ...unknownFields(obj, 'GatewayHTTPRoute', id)];
  }
  const entry = KINDS[`${obj?.apiVersion}/${obj?.kind}`];
  if (!entry) return [`${id}: no schema registered for ${obj?.apiVersion} ${obj?.kind}`];
  const [Model, typeName] = entry;
  const errors: string[] = [];
  // kustomize wraps long base64 values at 70 columns; the API server's decoder (Go's
  // encoding/base64) skips the newlines, the "byte" format check here does not.
  const checked =
    obj.kind === 'Secret' && obj.data
      ? { ...obj, data: Object.fromEntries(Object.entries(obj.data).map(([k, v]) => [k, String(v).replace(/[\r\n]/g, '')])) }
      : obj;
  try {
    new Model(checked).validate();
  } catch (err) {
    errors.push(`${id}: ${(err as Error).message.replace(/\s+/g, ' ')}`);
  }
  errors.push(...unknownFields(obj, typeName, id));
  return errors;
}

/** Problems across a set of objects, including duplicate kind/name pairs. */
export function validateAll(objects: K8sObject[]): string[] {
  const seen = new Set<string>();
  const errors: string[] = [];
  for (const o of objects) {
    const key = `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
    if (seen.has(key)) errors.push(`${key}: defined twice`);
    seen.add(key);
    errors.push(...validateObject(o));
  }
  return errors;
}
