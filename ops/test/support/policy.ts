/**
 * Policy checks over rendered objects: pod templates, label selectors, and a small
 * NetworkPolicy evaluator (Kubernetes semantics: a pod not selected by any policy of a
 * direction is open in that direction; selected pods allow only what some rule allows, and a
 * connection needs both the source's egress and the destination's ingress).
 */
import type { K8sObject } from '../../src/chart.ts';

export interface PodTemplate {
  /** "Deployment/name", "Job/name", "Pod/name" ... */
  owner: string;
  kind: string;
  labels: Record<string, string>;
  spec: any;
  namespace: string;
  /** StatefulSet volumeClaimTemplates names (mountable like volumes). */
  claims: string[];
}

/** Pod templates of workloads and bare Pods. */
export function podTemplates(objects: K8sObject[]): PodTemplate[] {
  const out: PodTemplate[] = [];
  for (const o of objects) {
    const ns = o.metadata.namespace ?? 'default';
    if (['Deployment', 'StatefulSet', 'Job', 'DaemonSet', 'ReplicaSet'].includes(o.kind)) {
      const claims = (o.spec.volumeClaimTemplates ?? []).map((c: any) => c.metadata.name);
      out.push({
        owner: `${o.kind}/${o.metadata.name}`,
        kind: o.kind,
        labels: o.spec.template.metadata?.labels ?? {},
        spec: o.spec.template.spec,
        namespace: ns,
        claims,
      });
    } else if (o.kind === 'CronJob') {
      const t = o.spec.jobTemplate.spec.template;
      out.push({ owner: `CronJob/${o.metadata.name}`, kind: o.kind, labels: t.metadata?.labels ?? {}, spec: t.spec, namespace: ns, claims: [] });
    } else if (o.kind === 'Pod') {
      out.push({ owner: `Pod/${o.metadata.name}`, kind: 'Pod', labels: o.metadata.labels ?? {}, spec: o.spec, namespace: ns, claims: [] });
    }
  }
  return out;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Kubernetes label-selector semantics; an empty selector matches everything. */
export function selectorMatches(sel: LabelSelector | undefined | null, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels;
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** An endpoint in the flow model: a pod (with labels and namespace) or an outside address. */
export interface Endpoint {
  name: string;
  namespace: string | null;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
  /** IPv4 address, for ipBlock peers (pods get a 10.244.x address, outside hosts others). */
  ip: string;
  /** Named container ports (name -> number) for named NetworkPolicy ports. */
  ports: Record<string, number>;
}

function ipInCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const n = (s: string) => s.split('.').reduce((a, b) => (a << 8) + Number(b), 0) >>> 0;
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (n(ip) & mask) === (n(base!) & mask);
}

function peerMatches(peer: any, policyNs: string, ep: Endpoint): boolean {
  if (peer.ipBlock) {
    // Kubernetes: ipBlock is meant for addresses outside the cluster's pods; pods are matched
    // by selectors. Model pods as not matching ipBlocks (CNI behaviour varies).
    if (ep.namespace !== null) return false;
    return ipInCidr(ep.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c: string) => ipInCidr(ep.ip, c));
  }
  if (ep.namespace === null) return false;
  if (peer.namespaceSelector) {
    if (!selectorMatches(peer.namespaceSelector, ep.namespaceLabels)) return false;
  } else if (ep.namespace !== policyNs) {
    return false;
  }
  return selectorMatches(peer.podSelector, ep.labels);
}

function portMatches(ports: any[] | undefined, port: number, protocol: string, dst: Endpoint): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    const num = typeof p.port === 'string' ? dst.ports[p.port] : p.port;
    if (num === undefined) return false;
    return p.endPort ? port >= num && port <= p.endPort : port === num;
  });
}

function direction(policies: K8sObject[], ep: Endpoint, type: 'Ingress' | 'Egress') {
  if (ep.namespace === null) return null;
  const selecting = policies.filter(
    (p) =>
      (p.metadata.namespace ?? 'default') === ep.namespace &&
      selectorMatches(p.spec.podSelector, ep.labels) &&
      // Without policyTypes: Ingress always, Egress only when egress rules exist.
      (p.spec.policyTypes ?? ['Ingress', ...(p.spec.egress ? ['Egress'] : [])]).includes(type),
  );
  return selecting.length ? selecting : null;
}

/** Whether `src` may open a connection to `dst` on port/protocol under `policies`. */
export function allowed(policies: K8sObject[], src: Endpoint, dst: Endpoint, port: number, protocol = 'TCP'): boolean {
  const egress = direction(policies, src, 'Egress');
  const egressOk =
    !egress ||
    egress.some((p) =>
      (p.spec.egress ?? []).some(
        (r: any) =>
          portMatches(r.ports, port, protocol, dst) &&
          (!r.to || r.to.length === 0 || r.to.some((peer: any) => peerMatches(peer, p.metadata.namespace ?? 'default', dst))),
      ),
    );
  const ingress = direction(policies, dst, 'Ingress');
  const ingressOk =
    !ingress ||
    ingress.some((p) =>
      (p.spec.ingress ?? []).some(
        (r: any) =>
          portMatches(r.ports, port, protocol, dst) &&
          (!r.from || r.from.length === 0 || r.from.some((peer: any) => peerMatches(peer, p.metadata.namespace ?? 'default', src))),
      ),
    );
  return egressOk && ingressOk;
}

/** Endpoint for a pod template of the release. */
export function podEndpoint(t: PodTemplate, index: number): Endpoint {
  const ports: Record<string, number> = {};
  for (const c of t.spec.containers ?? []) for (const p of c.ports ?? []) if (p.name) ports[p.name] = p.containerPort;
  return {
    name: t.labels['app.kubernetes.io/component'] ?? t.owner,
    namespace: t.namespace,
    namespaceLabels: { 'kubernetes.io/metadata.name': t.namespace },
    labels: t.labels,
    ip: `10.244.0.${10 + index}`,
    ports,
  };
}

/** A flow "src -> dst:port/proto" as a string, for readable set comparisons. */
export const flow = (src: string, dst: string, port: number, protocol = 'TCP') => `${src} -> ${dst}:${port}/${protocol}`;

/**
 * Every allowed flow between the given endpoints on the given ports, restricted to flows that
 * touch at least one of `subjects` (the release's own pods).
 */
export function flowMatrix(policies: K8sObject[], endpoints: Endpoint[], subjects: Set<string>, ports: [number, string][]): string[] {
  const out: string[] = [];
  for (const src of endpoints)
    for (const dst of endpoints) {
      if (src === dst || (!subjects.has(src.name) && !subjects.has(dst.name))) continue;
      for (const [port, proto] of ports) if (allowed(policies, src, dst, port, proto)) out.push(flow(src.name, dst.name, port, proto));
    }
  return out.sort();
}
