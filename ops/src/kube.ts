/**
 * The Kubernetes side of the ops tool, on @kubernetes/client-node (2.x; runs under Bun, which is
 * what `npm run k8s` uses). Every API failure becomes an OpsError with one readable line.
 */
import * as k8s from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
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

/**
 * Where client-node's loadFromDefault looks: every file in KUBECONFIG, else ~/.kube/config, else
 * the pod's service account. When none is there it silently falls back to http://localhost:8080,
 * which on a laptop is logbus itself (`npm start`), and every call then "answers HTTP 404".
 * Returns the reason to stop, or undefined when a kubeconfig (or a service account) exists.
 */
export function missingKubeconfig(env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync): string | undefined {
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  const paths = fromEnv.length ? fromEnv : [join(env.HOME || homedir(), '.kube', 'config')];
  if (paths.some(exists)) return undefined;
  if (env.KUBERNETES_SERVICE_HOST && exists('/var/run/secrets/kubernetes.io/serviceaccount/token')) return undefined;
  const where = fromEnv.length ? `KUBECONFIG names ${paths.join(', ')}, and none exists` : `KUBECONFIG is not set and ${paths[0]} does not exist`;
  return (
    `no kubeconfig: ${where}, and this is not a pod with a service account. ` +
    'Create a cluster (docs/DEPLOY.md: `kind create cluster --config kind-config.yaml`) or point KUBECONFIG at one.'
  );
}

/** Loads the kubeconfig (KUBECONFIG or ~/.kube/config) and checks the API server answers. */
export async function connect(namespace: string | undefined): Promise<Cluster> {
  const missing = missingKubeconfig();
  if (missing) throw new OpsError(missing, ExitCode.Cluster);
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

/** The newest of the Job's pods by creation time (a retry replaces a failed pod), if any. */
async function newestPod(c: Cluster, uid: string): Promise<k8s.V1Pod | undefined> {
  for (const labelSelector of podSelectors(uid)) {
    const pods = await api(c, () => c.core.listNamespacedPod({ namespace: c.namespace, labelSelector }));
    if (!pods.items.length) continue;
    const created = (p: k8s.V1Pod) => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
    return pods.items.reduce((a, b) => (created(b) >= created(a) ? b : a));
  }
  return undefined;
}

/** A pod that cannot start for good: say why now instead of waiting out the timeout. */
function checkPullable(pod: k8s.V1Pod): void {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (waiting && /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError/.test(waiting.reason ?? '')) {
    throw new OpsError(
      `pod ${pod.metadata!.name}: ${waiting.reason}: ${waiting.message ?? ''} (was the image loaded with \`kind load docker-image\`?)`,
    );
  }
}

/** How following a Job ended: its own status, or the deadline with the Job still running. */
export type JobWatch = { result: JobResult; podsFollowed: number } | { timedOut: true; podsFollowed: number };

/**
 * Follows the Job to its end: the log of its newest pod, then, if the Job retries, the log of
 * the replacement pod, until the Job's status says Complete or Failed. The deadline holds while
 * a log is being followed too; when it passes, the Job's status decides (a Job that succeeded
 * meanwhile is a success), and a Job still running is reported as such, never as failed.
 */
export async function followJob(
  c: Cluster,
  job: k8s.V1Job,
  container: string,
  deadline: number,
  out: NodeJS.WritableStream,
  log: (msg: string) => void,
): Promise<JobWatch> {
  const name = job.metadata!.name!;
  const followed = new Set<string>();
  const status = async () => jobOutcome(await api(c, () => c.batch.readNamespacedJobStatus({ name, namespace: c.namespace })));
  for (;;) {
    const pod = await newestPod(c, job.metadata!.uid!);
    if (pod) checkPullable(pod);
    const podName = pod?.metadata?.name;
    if (pod && podName && !followed.has(podName) && pod.status?.phase && pod.status.phase !== 'Pending') {
      followed.add(podName);
      log(`following pod ${podName}${followed.size > 1 ? ' (the Job retried)' : ''}`);
      await followLogs(c, podName, container, out, AbortSignal.timeout(Math.max(1, deadline - Date.now())));
      continue;
    }
    const result = await status();
    if (result) return { result, podsFollowed: followed.size };
    if (Date.now() >= deadline) return { timedOut: true, podsFollowed: followed.size };
    await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
  }
}

/**
 * Streams the container's log to `out` until the container exits (GET .../log?follow=true) or
 * `signal` aborts (the caller's deadline), whichever comes first.
 */
export async function followLogs(c: Cluster, pod: string, container: string, out: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
  const url = `${c.server.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(c.namespace)}/pods/${encodeURIComponent(pod)}/log?follow=true&container=${encodeURIComponent(container)}`;
  let res: Response;
  try {
    res = await c.transport.fetch(url, { signal });
  } catch (err) {
    if (signal?.aborted) return;
    throw describeError(err, c.server);
  }
  if (!res.ok || !res.body)
    throw new OpsError(`reading the log of pod ${pod} failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`, ExitCode.Cluster);
  try {
    for await (const chunk of res.body) out.write(chunk);
  } catch (err) {
    if (!signal?.aborted) throw describeError(err, c.server);
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
