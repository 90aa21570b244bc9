/**
 * Jobs from the chart itself: the publisher and k6 Jobs are rendered with `helm template
 * --show-only` from charts/aggregator (with the release's values files and the command's
 * settings), so the ops tool, `helm install --set publisher.enabled=true`, Tilt and k8s/jobs
 * run byte-for-byte the same pod spec. Only the Job name (unique per run) and the managed-by
 * label (the tool, not Helm, owns it) change.
 */
import { resolve } from 'node:path';
import { type K8sObject, parseManifests, helmTemplate, type RenderOptions } from './chart.ts';
import { ExitCode, OpsError } from './error.ts';

export type JobKind = 'publisher' | 'k6';

export interface JobRequest {
  kind: JobKind;
  release: string;
  namespace: string;
  valuesFiles: string[];
  set: string[];
  setString: string[];
  setJson?: string[];
  /** Appended to the chart's Job name; unique per run (default: base-36 time). */
  suffix?: string;
}

export interface RenderedJob {
  job: K8sObject;
  /** The k6 script ConfigMap (k6 only), applied before the Job. */
  configMap?: K8sObject;
  /** The aggregator Service the Job talks to (name and port name, for the service proxy). */
  service: { name: string; portName: string };
}

export const MANAGED_BY = 'logbus-ops';

/** The helm invocation for a Job request (pure; unit-tested). */
export function jobRenderOptions(r: JobRequest): RenderOptions {
  const templates =
    r.kind === 'publisher'
      ? ['templates/publisher-job.yaml', 'templates/service.yaml']
      : ['templates/k6-job.yaml', 'templates/k6-configmap.yaml', 'templates/service.yaml'];
  return {
    release: r.release,
    namespace: r.namespace,
    valuesFiles: r.valuesFiles.map((f) => resolve(process.env.INIT_CWD ?? process.cwd(), f)),
    // The user's settings go first; enabling the Job comes last so nothing can turn it off.
    set: [...r.set, `${r.kind}.enabled=true`],
    setString: r.setString,
    setJson: r.setJson ?? [],
    showOnly: templates,
  };
}

/** Renames a rendered Job for one run and marks it as the tool's. */
export function forRun(job: K8sObject, suffix: string): K8sObject {
  const out = structuredClone(job);
  out.metadata.name = `${job.metadata.name}-${suffix}`.slice(0, 63).replace(/-+$/, '');
  for (const labels of [out.metadata.labels, out.spec.template.metadata.labels]) {
    if (labels) labels['app.kubernetes.io/managed-by'] = MANAGED_BY;
  }
  return out;
}

/** Renders the Job (and what it needs) from the chart. Throws OpsError on a helm failure. */
export function renderJob(r: JobRequest): RenderedJob {
  let objects: K8sObject[];
  try {
    objects = parseManifests(helmTemplate(jobRenderOptions(r)), 'helm template');
  } catch (err) {
    throw new OpsError(`cannot render the ${r.kind} Job from charts/aggregator: ${(err as Error).message}`, ExitCode.Usage);
  }
  const job = objects.find((o) => o.kind === 'Job');
  const svc = objects.find((o) => o.kind === 'Service');
  if (!job || !svc) throw new OpsError(`charts/aggregator rendered no ${r.kind} Job or Service`, ExitCode.Usage);
  const suffix = r.suffix ?? Date.now().toString(36);
  return {
    job: forRun(job, suffix),
    configMap: objects.find((o) => o.kind === 'ConfigMap'),
    service: { name: svc.metadata.name, portName: svc.spec.ports[0].name },
  };
}
