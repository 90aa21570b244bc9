/** What every reconciler gets, and what it answers. */
import type { K8sObject } from '../../chart.ts';
import type { AggregatorClient } from '../aggregator-client.ts';
import { isCode, type KubeApi } from '../kube-api.ts';
import type { Logger } from '../log.ts';
import type { Resource } from '../resources.ts';

export interface ReconcileContext {
  api: KubeApi;
  aggregator: AggregatorClient;
  log: Logger;
  now: () => string;
  /** k6/load.js, for LoadTest ConfigMaps. */
  k6Script: string;
}

/** A reconcile's answer: requeue after a delay (periodic refresh), or nothing. Failures throw. */
export interface Outcome {
  requeueAfterMs?: number;
}

export type Reconciler = (key: string, ctx: ReconcileContext) => Promise<Outcome>;

export const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
};

/** GET that answers undefined on 404. */
export async function getOrUndefined<T>(api: KubeApi, r: Resource, namespace: string, name: string): Promise<T | undefined> {
  try {
    return await api.get<T>(r, namespace, name);
  } catch (err) {
    if (isCode(err, 404)) return undefined;
    throw err;
  }
}

/**
 * Applies `status` through the status subresource when it differs from what the object has.
 * A 404 means the object was deleted since it was read (a status apply never creates one):
 * nothing is left to report on, so it is not a failure.
 */
export async function writeStatus(api: KubeApi, r: Resource, obj: K8sObject, status: unknown): Promise<boolean> {
  if (JSON.stringify(status) === JSON.stringify(obj.status ?? {})) return false;
  try {
    await api.applyStatus(r, {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace },
      status,
    });
  } catch (err) {
    if (isCode(err, 404)) return false;
    throw err;
  }
  return true;
}
