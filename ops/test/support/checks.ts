/**
 * Deployment policy as functions returning readable problem lists, applied alike to every
 * chart scenario, to `kubectl kustomize k8s/` and to the Jobs the ops tool builds. A test
 * asserts the list is empty, so a failure names the object and the rule it breaks.
 */
import type { K8sObject } from '../../src/chart.ts';
import { podTemplates, selectorMatches } from './policy.ts';

const SELECTOR_KEYS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component'];
const COMMON_LABELS = [...SELECTOR_KEYS, 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/part-of'];
const COMPONENTS = ['aggregator', 'database', 'publisher', 'k6', 'test'];

const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;

/** Every object carries the common labels (plus helm.sh/chart when rendered by Helm). */
export function labelProblems(objects: K8sObject[], managedBy: 'Helm' | 'kustomize'): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const labels = o.metadata.labels ?? {};
    const required = managedBy === 'Helm' ? [...COMMON_LABELS, 'helm.sh/chart'] : COMMON_LABELS;
    for (const k of required) if (!labels[k]) out.push(`${id(o)}: missing label ${k}`);
    if (labels['app.kubernetes.io/managed-by'] && labels['app.kubernetes.io/managed-by'] !== managedBy)
      out.push(`${id(o)}: managed-by ${labels['app.kubernetes.io/managed-by']}, expected ${managedBy}`);
    if (labels['app.kubernetes.io/component'] && !COMPONENTS.includes(labels['app.kubernetes.io/component']))
      out.push(`${id(o)}: unknown component ${labels['app.kubernetes.io/component']}`);
  }
  return out;
}

/** Only the aggregator's Service may be reachable from outside; nothing else is exposed. */
export function exposureProblems(objects: K8sObject[], aggregatorService: string): string[] {
  const out: string[] = [];
  for (const o of objects) {
    if (o.kind === 'Gateway') out.push(`${id(o)}: unexpected ${o.kind} (routes attach to the cluster's own Gateway)`);
    // An Ingress or HTTPRoute may only lead to the aggregator Service, on its http port.
    if (o.kind === 'Ingress') {
      const backends = (o.spec.rules ?? []).flatMap((r: any) => (r.http?.paths ?? []).map((p: any) => p.backend));
      if (o.spec.defaultBackend) backends.push(o.spec.defaultBackend);
      for (const b of backends)
        if (b?.service?.name !== aggregatorService || b.service.port?.name !== 'http')
          out.push(`${id(o)}: backend ${JSON.stringify(b)} is not ${aggregatorService}:http`);
    }
    if (o.kind === 'HTTPRoute') {
      const service = objects.find((s) => s.kind === 'Service' && s.metadata.name === aggregatorService);
      const port = service?.spec.ports?.find((p: any) => p.name === 'http')?.port;
      for (const b of (o.spec.rules ?? []).flatMap((r: any) => r.backendRefs ?? []))
        if ((b.kind ?? 'Service') !== 'Service' || b.name !== aggregatorService || b.port !== port)
          out.push(`${id(o)}: backendRef ${JSON.stringify(b)} is not ${aggregatorService}:${port}`);
    }
    if (o.kind !== 'Service' || o.metadata.name === aggregatorService) continue;
    if ((o.spec.type ?? 'ClusterIP') !== 'ClusterIP') out.push(`${id(o)}: type ${o.spec.type} exposes a non-aggregator Service`);
    if (o.spec.clusterIP !== 'None') out.push(`${id(o)}: only the aggregator Service may have a cluster IP (expected headless)`);
    if (o.spec.externalIPs?.length) out.push(`${id(o)}: externalIPs`);
  }
  if (!objects.some((o) => o.kind === 'Service' && o.metadata.name === aggregatorService)) out.push(`Service/${aggregatorService}: missing`);
  for (const t of podTemplates(objects)) {
    if (t.spec.hostNetwork) out.push(`${t.owner}: hostNetwork`);
    for (const c of t.spec.containers ?? []) for (const p of c.ports ?? []) if (p.hostPort) out.push(`${t.owner}/${c.name}: hostPort ${p.hostPort}`);
  }
  return out;
}

/** Hardening, resources, probes and Job settings of every pod template. */
export function podProblems(objects: K8sObject[]): string[] {
  const out: string[] = [];
  for (const t of podTemplates(objects)) {
    const p = t.spec;
    const psc = p.securityContext ?? {};
    if (psc.runAsNonRoot !== true) out.push(`${t.owner}: pod securityContext.runAsNonRoot must be true`);
    if (psc.seccompProfile?.type !== 'RuntimeDefault') out.push(`${t.owner}: pod seccompProfile must be RuntimeDefault`);
    if (p.automountServiceAccountToken !== false) out.push(`${t.owner}: automountServiceAccountToken must be false`);
    const longRunning = ['Deployment', 'StatefulSet'].includes(t.kind);
    if (t.kind === 'Job' || t.kind === 'Pod') {
      if (p.restartPolicy !== 'Never') out.push(`${t.owner}: restartPolicy must be Never`);
    }
    const volumes = new Set([...(p.volumes ?? []).map((v: any) => v.name), ...t.claims]);
    for (const c of [...(p.initContainers ?? []), ...(p.containers ?? [])]) {
      const where = `${t.owner}/${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation must be false`);
      if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: readOnlyRootFilesystem must be true`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${where}: capabilities.drop must include ALL`);
      if (sc.privileged) out.push(`${where}: privileged`);
      const uid = sc.runAsUser ?? psc.runAsUser;
      if (!Number.isInteger(uid) || uid === 0) out.push(`${where}: needs a numeric non-zero runAsUser`);
      for (const kind of ['requests', 'limits'])
        for (const r of ['cpu', 'memory']) if (!c.resources?.[kind]?.[r]) out.push(`${where}: resources.${kind}.${r} missing`);
      if (!c.image || /:latest$/.test(c.image) || !/[:@]/.test(c.image)) out.push(`${where}: image must be pinned (got ${c.image})`);
      if (!(c.volumeMounts ?? []).some((m: any) => m.mountPath === '/tmp')) out.push(`${where}: no writable /tmp (read-only root filesystem)`);
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) out.push(`${where}: mount ${m.name} has no volume`);
      if (longRunning) {
        for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) if (!c[probe]) out.push(`${where}: ${probe} missing`);
        const named = new Set((c.ports ?? []).map((x: any) => x.name));
        for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
          const port = c[probe]?.httpGet?.port;
          if (typeof port === 'string' && !named.has(port)) out.push(`${where}: ${probe} uses undeclared port ${port}`);
        }
      }
    }
  }
  for (const o of objects.filter((x) => x.kind === 'Job')) {
    for (const k of ['backoffLimit', 'ttlSecondsAfterFinished', 'activeDeadlineSeconds'])
      if (!Number.isInteger(o.spec[k])) out.push(`${id(o)}: spec.${k} must be set`);
  }
  return out;
}

/** Aggregator-specific lifecycle rules: probes on the contract's paths, grace > preStop + drain. */
export function aggregatorProblems(objects: K8sObject[]): string[] {
  const out: string[] = [];
  const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'aggregator');
  if (!d) return ['aggregator Deployment missing'];
  const c = d.spec.template.spec.containers.find((x: any) => x.name === 'aggregator');
  if (c.livenessProbe?.httpGet?.path !== '/health') out.push('liveness must GET /health (process only)');
  if (c.readinessProbe?.httpGet?.path !== '/ready') out.push('readiness must GET /ready');
  if (c.startupProbe?.httpGet?.path !== '/ready') out.push('startupProbe must GET /ready (covers migrations)');
  const env = Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e]));
  const drainMs = Number(env.DRAIN_TIMEOUT_MS?.value ?? 10000);
  const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
  const grace = d.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  if (!(grace > preStop + drainMs / 1000)) out.push(`terminationGracePeriodSeconds ${grace} <= preStop ${preStop} + drain ${drainMs / 1000}`);
  if (!env.DATABASE_URL?.valueFrom?.secretKeyRef) out.push('DATABASE_URL must come from a Secret');
  if (d.spec.strategy?.type !== 'RollingUpdate') out.push('strategy must be RollingUpdate');
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler');
  const replicas = hpa ? hpa.spec.minReplicas : d.spec.replicas;
  if (!(replicas > 1)) out.push(`replicas must exceed 1 (got ${replicas})`);
  return out;
}

/** Selectors are immutable-safe and match the pods they are meant for; references resolve. */
export function selectorProblems(objects: K8sObject[], existingSecrets: string[] = []): string[] {
  const out: string[] = [];
  const templates = podTemplates(objects);
  const workloads = objects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind));
  for (const w of workloads) {
    const sel = w.spec.selector;
    if (!selectorMatches(sel, w.spec.template.metadata.labels)) out.push(`${id(w)}: selector does not match its pod template`);
    const keys = Object.keys(sel.matchLabels ?? {}).sort();
    if (JSON.stringify(keys) !== JSON.stringify([...SELECTOR_KEYS].sort()))
      out.push(`${id(w)}: selector must use exactly name, instance and component (got ${keys.join(', ')})`);
  }
  for (const s of objects.filter((o) => o.kind === 'Service')) {
    const matched = templates.filter((t) => t.kind !== 'Job' && t.kind !== 'Pod' && selectorMatches({ matchLabels: s.spec.selector }, t.labels));
    if (!s.spec.selector || matched.length !== 1) out.push(`${id(s)}: selector matches ${matched.length} workloads, expected 1`);
    for (const port of s.spec.ports ?? []) {
      if (typeof port.targetPort !== 'string') continue;
      const ok = matched.every((t) => t.spec.containers.some((c: any) => (c.ports ?? []).some((p: any) => p.name === port.targetPort)));
      if (!ok) out.push(`${id(s)}: targetPort ${port.targetPort} is not a named port of the selected pods`);
    }
  }
  for (const p of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const n = templates.filter((t) => selectorMatches(p.spec.selector, t.labels) && t.kind === 'Deployment').length;
    if (n !== 1) out.push(`${id(p)}: selector matches ${n} Deployments, expected 1`);
  }
  for (const h of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = h.spec.scaleTargetRef;
    if (!objects.some((o) => o.kind === ref.kind && o.metadata.name === ref.name))
      out.push(`${id(h)}: scaleTargetRef ${ref.kind}/${ref.name} missing`);
  }
  for (const s of objects.filter((o) => o.kind === 'StatefulSet')) {
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === s.spec.serviceName);
    if (svc?.spec.clusterIP !== 'None') out.push(`${id(s)}: serviceName ${s.spec.serviceName} must be a headless Service`);
  }
  const secrets = new Set([...objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name), ...existingSecrets]);
  const configMaps = new Set(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name));
  const accounts = new Set(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name));
  for (const t of templates) {
    for (const c of t.spec.containers ?? [])
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref && !secrets.has(ref.name)) out.push(`${t.owner}/${c.name}: env ${e.name} refers to unknown Secret ${ref.name}`);
      }
    for (const v of t.spec.volumes ?? []) {
      if (v.configMap && !configMaps.has(v.configMap.name)) out.push(`${t.owner}: volume ${v.name} refers to unknown ConfigMap ${v.configMap.name}`);
      if (v.secret && !secrets.has(v.secret.secretName)) out.push(`${t.owner}: volume ${v.name} refers to unknown Secret ${v.secret.secretName}`);
    }
    const sa = t.spec.serviceAccountName;
    if (sa && sa !== 'default' && !accounts.has(sa)) out.push(`${t.owner}: ServiceAccount ${sa} is not rendered`);
  }
  return out;
}
