/**
 * `npm run k8s -- publish|load` through the operator: when the release is a LogBus (the operator's
 * CRDs are installed and a LogBus of that name exists), the tool creates a PublishRun or LoadTest
 * with the command's settings and follows its status to the end, instead of rendering a Job from
 * the chart. On a cluster without the operator (no CRD, or no such LogBus) the chart path runs as
 * before. A run nobody picks up (CRDs installed, operator not running) fails with that diagnosis.
 */
import type { Command } from './cli.ts';
import { ExitCode, OpsError } from './error.ts';
import type { Cluster } from './kube.ts';
import { type ApiError, isCode, KubeApi } from './operator/kube-api.ts';
import { API_VERSION, LOADTEST, LOGBUS, PUBLISHRUN, type RunStatus } from './operator/resources.ts';

const log = (msg: string) => console.error(`k8s: ${msg}`);

/** True when the release is a LogBus the operator manages (404 on the CRD or the object: false). */
export async function managedByOperator(c: Cluster, release: string): Promise<boolean> {
  try {
    await new KubeApi(c.server, c.transport.fetch).get(LOGBUS, c.namespace, release);
    return true;
  } catch (err) {
    if (isCode(err, 404)) return false;
    throw new OpsError(`checking for LogBus ${c.namespace}/${release}: ${(err as Error).message}`, ExitCode.Cluster);
  }
}

/** The run's spec from the command's chart-value settings (publisher.* or k6.*; pure). */
export function runSpecOf(cmd: Command): Record<string, unknown> {
  const prefix = cmd.name === 'publish' ? 'publisher.' : 'k6.';
  const spec: Record<string, unknown> = { logBus: cmd.release };
  const image: { repository?: string; tag?: string; digest?: string } = {};
  const pairs = [...cmd.set, ...cmd.setString, ...cmd.setJson].map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as const);
  for (const [key, raw] of pairs) {
    if (!key.startsWith(prefix)) continue;
    const field = key.slice(prefix.length);
    if (field.startsWith('image.')) image[field.slice(6) as keyof typeof image] = raw;
    else if (['dupRate', 'duration', 'seed'].includes(field)) spec[field] = raw;
    else if (field === 'verify') spec.verify = raw === 'true';
    else spec[field] = Number(raw);
  }
  if (image.repository) spec.image = image.digest ? `${image.repository}@${image.digest}` : `${image.repository}:${image.tag ?? '0.1.0'}`;
  return spec;
}

/** Creates the run and follows its stage until Finished or Error (or the timeout). */
export async function runThroughOperator(cmd: Command, c: Cluster): Promise<void> {
  const api = new KubeApi(c.server, c.transport.fetch);
  const resource = cmd.name === 'publish' ? PUBLISHRUN : LOADTEST;
  const name = `${cmd.release}-${cmd.name}-${Date.now().toString(36)}`.slice(0, 63);
  try {
    await api.create(resource, { apiVersion: API_VERSION, kind: resource.kind, metadata: { name, namespace: c.namespace }, spec: runSpecOf(cmd) });
  } catch (err) {
    throw new OpsError(`creating ${resource.kind} ${c.namespace}/${name}: ${(err as ApiError).message}`, ExitCode.Cluster);
  }
  log(`created ${resource.kind} ${c.namespace}/${name}; following its status (kubectl -n ${c.namespace} get ${resource.plural} ${name} -w)`);
  const deadline = Date.now() + cmd.timeoutSeconds * 1000;
  let stage = '';
  for (;;) {
    const status = ((await api.get<{ status?: RunStatus }>(resource, c.namespace, name)).status ?? {}) as RunStatus;
    if (status.stage && status.stage !== stage) log(`stage ${(stage = status.stage)}${status.jobName ? ` (Job ${status.jobName})` : ''}`);
    if (status.stage === 'Finished' || status.stage === 'Error') {
      console.log(JSON.stringify({ name, stage: status.stage, result: status.result ?? null }, null, 2));
      if (status.stage === 'Error') {
        const why = status.conditions?.find((x) => x.type === 'Succeeded')?.message ?? 'see its status';
        throw new OpsError(`${resource.kind} ${name} ended in Error: ${why}`);
      }
      return;
    }
    if (Date.now() > deadline)
      throw new OpsError(
        stage
          ? `${resource.kind} ${name} still ${stage} after ${cmd.timeoutSeconds} s`
          : `no operator acted on ${resource.kind} ${name} within ${cmd.timeoutSeconds} s: is the logbus operator running? (kubectl get deploy -A -l app.kubernetes.io/name=logbus-operator)`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}
