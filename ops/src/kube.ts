/**
 * The Kubernetes side of the ops tool, on @kubernetes/client-node (2.x; runs under Bun, which is
 * what `npm run k8s` uses). Every API failure becomes an OpsError with one readable line.
 */
import * as k8s from '@kubernetes/client-node';
import type { K8sObject } from './chart.ts';
import { ExitCode, OpsError } from './error.ts';
import { configurationFor, type Transport, transportFor } from './transport.ts';

export interface Cluster {
  kc: k8s.KubeConfig;
  transport: Transport;
  core: k8s.CoreV1Api;
  batch: k8s.BatchV1Api;
  namespace: string;
  server: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Turns any client error into one line naming what failed. */
export function describeError(err: unknown, server: string): OpsError {
  if (err instanceof OpsError) return err;
  if (err instanceof k8s.ApiException) {
    let reason = '';
    try {
      reason = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body)?.message ?? '';
    } catch {
      reason = String(err.body).slice(0, 200);
    }
    return new OpsError(`Kubernetes API ${server} answered HTTP ${err.code}${reason ? `: ${reason}` : ''}`, ExitCode.Cluster);
  }
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  const code = e?.code ?? e?.cause?.code;
  const detail = code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new OpsError(
    `cannot reach the Kubernetes API at ${server} (${detail.split('\n')[0]}): is the cluster running and the kubeconfig context right?`,
    ExitCode.Cluster,
  );
}

/** Loads the kubeconfig (KUBECONFIG or ~/.kube/config) and checks the API server answers. */
export async function connect(namespace: string | undefined): Promise<Cluster> {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new OpsError(`cannot load a kubeconfig: ${(err as Error).message}`, ExitCode.Cluster);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new OpsError('no current cluster in the kubeconfig (set KUBECONFIG or `kubectl config use-context`)', ExitCode.Cluster);
  const server = cluster.server;
  const ctx = kc.getContextObject(kc.getCurrentContext());
  const ns = namespace ?? ctx?.namespace ?? 'default';
  let transport: Transport;
  try {
    transport = await transportFor(kc);
  } catch (err) {
    throw new OpsError(`cannot use the kubeconfig's credentials: ${(err as Error).message}`, ExitCode.Cluster);
  }
  const config = configurationFor(server, transport);
  const c: Cluster = { kc, transport, core: new k8s.CoreV1Api(config), batch: new k8s.BatchV1Api(config), namespace: ns, server };
  try {
    await new k8s.VersionApi(config).getCode();
  } catch (err) {
    throw describeError(err, server);
  }
  return c;
}

/** Runs one API call, translating failures. */
export async function api<T>(c: Cluster, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw describeError(err, c.server);
  }
}

/**
 * Creates the ConfigMap, or replaces it when it exists (the k6 script may have changed).
 * Says which, so a failed run deletes only what it created.
 */
export async function applyConfigMap(c: Cluster, cm: K8sObject): Promise<'created' | 'replaced'> {
  const body = { ...cm, metadata: { ...cm.metadata, namespace: c.namespace } } as k8s.V1ConfigMap;
  try {
    await c.core.createNamespacedConfigMap({ namespace: c.namespace, body });
    return 'created';
  } catch (err) {
    if (!(err instanceof k8s.ApiException && err.code === 409)) throw describeError(err, c.server);
    await api(c, () => c.core.replaceNamespacedConfigMap({ name: cm.metadata.name, namespace: c.namespace, body }));
    return 'replaced';
  }
}

/** Deletes a Job and, in the background, its pods (the default for batch/v1 would orphan them). */
export async function deleteJob(c: Cluster, name: string): Promise<void> {
  await api(c, () => c.batch.deleteNamespacedJob({ name, namespace: c.namespace, propagationPolicy: 'Background' }));
}

export async function deleteConfigMap(c: Cluster, name: string): Promise<void> {
  await api(c, () => c.core.deleteNamespacedConfigMap({ name, namespace: c.namespace }));
}

export async function createJob(c: Cluster, job: K8sObject): Promise<k8s.V1Job> {
  const body = { ...job, metadata: { ...job.metadata, namespace: c.namespace } } as k8s.V1Job;
  return api(c, () => c.batch.createNamespacedJob({ namespace: c.namespace, body }));
}

export interface JobResult {
  ok: boolean;
  reason: string;
}

/** The outcome a Job's status records, or null while it runs (pure; unit-tested). */
export function jobOutcome(job: Pick<k8s.V1Job, 'status'>): JobResult | null {
  for (const cond of job.status?.conditions ?? []) {
    if (cond.status !== 'True') continue;
    if (cond.type === 'Complete') return { ok: true, reason: 'Complete' };
    if (cond.type === 'Failed') return { ok: false, reason: [cond.reason ?? 'Failed', cond.message].filter(Boolean).join(': ') };
  }
  return null;
}

/**
 * Label selectors for a Job's pods: `batch.kubernetes.io/controller-uid` exists from Kubernetes
 * 1.27, `controller-uid` before (and still, for compatibility).
 */
export function podSelectors(uid: string): string[] {
  return [`batch.kubernetes.io/controller-uid=${uid}`, `controller-uid=${uid}`];
}

/**
 * Waits for the Job's first pod to leave Pending (so its log can be followed) and returns its
 * name, or returns the Job's outcome if the Job finishes first (its pod never seen: a label
 * this cluster does not set, a pod already deleted): the Job's own status decides, never a
 * timeout alone.
 */
export async function waitForPod(c: Cluster, job: k8s.V1Job, deadline: number): Promise<{ pod: string } | { result: JobResult }> {
  const name = job.metadata!.name!;
  for (;;) {
    for (const labelSelector of podSelectors(job.metadata!.uid!)) {
      const pods = await api(c, () => c.core.listNamespacedPod({ namespace: c.namespace, labelSelector }));
      const pod = pods.items.find((p) => p.status?.phase && p.status.phase !== 'Pending');
      if (pod) return { pod: pod.metadata!.name! };
      const waiting = pods.items[0]?.status?.containerStatuses?.[0]?.state?.waiting;
      if (waiting && /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError/.test(waiting.reason ?? '')) {
        throw new OpsError(
          `pod ${pods.items[0]!.metadata!.name}: ${waiting.reason}: ${waiting.message ?? ''} (was the image loaded with \`kind load docker-image\`?)`,
        );
      }
      if (pods.items.length) break;
    }
    const result = jobOutcome(await api(c, () => c.batch.readNamespacedJobStatus({ name, namespace: c.namespace })));
    if (result) return { result };
    if (Date.now() > deadline) throw new OpsError(`Job ${name}: no pod started before the timeout`);
    await sleep(1000);
  }
}

/** Streams the container's log to `out` until the container exits (GET .../log?follow=true). */
export async function followLogs(c: Cluster, pod: string, container: string, out: NodeJS.WritableStream): Promise<void> {
  const url = `${c.server.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(c.namespace)}/pods/${encodeURIComponent(pod)}/log?follow=true&container=${encodeURIComponent(container)}`;
  let res: Response;
  try {
    res = await c.transport.fetch(url);
  } catch (err) {
    throw describeError(err, c.server);
  }
  if (!res.ok || !res.body)
    throw new OpsError(`reading the log of pod ${pod} failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`, ExitCode.Cluster);
  for await (const chunk of res.body) out.write(chunk);
}

/** Waits until the Job has a Complete or Failed condition. */
export async function waitForJob(c: Cluster, name: string, deadline: number): Promise<JobResult> {
  for (;;) {
    const result = jobOutcome(await api(c, () => c.batch.readNamespacedJobStatus({ name, namespace: c.namespace })));
    if (result) return result;
    if (Date.now() > deadline) return { ok: false, reason: 'timed out waiting for the Job' };
    await sleep(2000);
  }
}

/** GET <path> on a Service through the API server's service proxy; returns parsed JSON. */
export async function proxyGetJson(c: Cluster, service: string, portName: string, path: string): Promise<unknown> {
  const text = await api(c, () => c.core.connectGetNamespacedServiceProxyWithPath({ name: `${service}:${portName}`, namespace: c.namespace, path }));
  try {
    return typeof text === 'string' ? JSON.parse(text) : text;
  } catch {
    throw new OpsError(`GET /${path} through the service proxy did not return JSON: ${String(text).slice(0, 200)}`);
  }
}
