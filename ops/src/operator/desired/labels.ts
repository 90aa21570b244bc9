/**
 * Names and labels of the objects built for a LogBus, the chart's rules (charts/aggregator
 * _helpers.tpl) with the LogBus name as the release name: `<name>-aggregator` (or the name alone
 * when it already contains "aggregator"), the same selector labels, managed-by the operator.
 */
import type { K8sObject } from '../../chart.ts';
import { MANAGED_BY, type LogBus } from '../resources.ts';

export type Component = 'aggregator' | 'database' | 'publisher' | 'k6';

/** The chart's `aggregator.fullname` for a release named like the LogBus. */
export function fullnameOf(name: string): string {
  return (name.includes('aggregator') ? name : `${name}-aggregator`).slice(0, 63).replace(/-+$/, '');
}

/** The tag of an image reference ("latest" when it has none; the digest's prefix when pinned). */
export function versionOf(image: string): string {
  const digest = image.split('@')[1];
  if (digest) return digest.replace(/^sha256:/, '').slice(0, 12);
  const tag = /:([\w][\w.-]*)$/.exec(image.split('/').pop() ?? '');
  return tag?.[1] ?? 'latest';
}

export const selectorLabels = (lb: LogBus, component: Component) => ({
  'app.kubernetes.io/name': 'aggregator',
  'app.kubernetes.io/instance': lb.metadata.name,
  'app.kubernetes.io/component': component,
});

export const releaseSelectorLabels = (lb: LogBus) => ({
  'app.kubernetes.io/name': 'aggregator',
  'app.kubernetes.io/instance': lb.metadata.name,
});

export const labels = (lb: LogBus, component: Component) => ({
  ...selectorLabels(lb, component),
  'app.kubernetes.io/version': versionOf(lb.spec.image),
  'app.kubernetes.io/managed-by': MANAGED_BY,
  'app.kubernetes.io/part-of': 'logbus',
});

/** The label a pod needs to reach the aggregator (the chart's `aggregator.clientLabel`). */
export const clientLabel = (lb: LogBus) => `${fullnameOf(lb.metadata.name)}-client`;

/** Metadata of an object owned by `owner` (deletion cascades through the garbage collector). */
export function ownedMeta(owner: K8sObject, name: string, objLabels: Record<string, string>): K8sObject['metadata'] {
  return {
    name,
    namespace: owner.metadata.namespace,
    labels: objLabels,
    ownerReferences: [
      {
        apiVersion: owner.apiVersion,
        kind: owner.kind,
        name: owner.metadata.name,
        uid: owner.metadata.uid as string,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}
