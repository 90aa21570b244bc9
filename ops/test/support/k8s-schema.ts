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
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
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
};

const MODELS = k8s as unknown as Record<string, { attributeTypeMap?: { baseName: string; type: string }[] }>;
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
  const attrs = MODELS[type]?.attributeTypeMap;
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
