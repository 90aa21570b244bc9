/**
 * NetworkPolicies allow exactly the intended flows. The rendered policies are evaluated with
 * Kubernetes semantics (ops/test/support/policy.ts) over the release's pods plus stand-ins for
 * the rest of the world, on every port that matters, and the full set of allowed flows is
 * compared with the intended one, so an extra hole fails as surely as a missing rule.
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { CHART_DIR, type K8sObject, renderChart, renderKustomize, REPO_ROOT } from '../src/chart.ts';
import { type Endpoint, flow, flowMatrix, podEndpoint, podTemplates, selectorMatches } from './support/policy.ts';

const CLIENT_LABEL = 'logbus-aggregator-client';
const RELEASE = ['aggregator', 'database', 'publisher', 'k6', 'test'];
const PORTS: [number, string][] = [
  [8080, 'TCP'],
  [5432, 'TCP'],
  [6432, 'TCP'],
  [53, 'UDP'],
  [53, 'TCP'],
  [443, 'TCP'],
];

const outsider = (name: string, namespace: string | null, labels: Record<string, string>, ip: string): Endpoint => ({
  name,
  namespace,
  namespaceLabels: namespace ? { 'kubernetes.io/metadata.name': namespace } : {},
  labels,
  ip,
  ports: {},
});

/** Stand-ins for everything that is not the release. */
const WORLD = (ns: string): Endpoint[] => [
  outsider('ns-client', ns, { [CLIENT_LABEL]: 'true' }, '10.244.1.2'),
  outsider('ns-other', ns, { app: 'other' }, '10.244.1.3'),
  outsider('other-ns-client', 'other', { [CLIENT_LABEL]: 'true' }, '10.244.1.4'),
  outsider('kube-dns', 'kube-system', { 'k8s-app': 'kube-dns' }, '10.244.1.5'),
  outsider('outside', null, {}, '203.0.113.7'),
  outsider('external-db', null, {}, '10.20.0.5'),
];

function matrix(objects: K8sObject[], ns: string) {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  const pods = podTemplates(objects).map(podEndpoint);
  const subjects = new Set(pods.map((p) => p.name));
  return { pods, flows: flowMatrix(policies, [...pods, ...WORLD(ns)], subjects, PORTS) };
}

const dnsFlows = (pods: string[]) => pods.flatMap((p) => [flow(p, 'kube-dns', 53, 'UDP'), flow(p, 'kube-dns', 53, 'TCP')]);
const CLIENT_FLOWS = ['publisher', 'k6', 'test', 'ns-client'].map((c) => flow(c, 'aggregator', 8080));

const render = (values: string[], set: string[] = []) =>
  renderChart({ release: 'logbus', namespace: 'logbus', valuesFiles: values.map((v) => join(CHART_DIR, 'ci', v)), set });

describe('NetworkPolicies', () => {
  test('defaults (Jobs and test pod on): exactly clients -> aggregator:8080, aggregator -> PostgreSQL:5432, DNS', () => {
    const { pods, flows } = matrix(render([], ['publisher.enabled=true', 'k6.enabled=true']), 'logbus');
    expect(pods.map((p) => p.name).sort()).toEqual([...RELEASE].sort());
    expect(flows).toEqual([...CLIENT_FLOWS, flow('aggregator', 'database', 5432), ...dnsFlows(RELEASE)].sort());
  });

  test("kind preset (allowExternal): anyone may reach the aggregator's port, and only that", () => {
    const { flows } = matrix(render(['kind-values.yaml'], ['publisher.enabled=true', 'k6.enabled=true']), 'logbus');
    const external = ['ns-other', 'other-ns-client', 'kube-dns', 'outside', 'external-db'].map((c) => flow(c, 'aggregator', 8080));
    expect(flows).toEqual([...CLIENT_FLOWS, ...external, flow('aggregator', 'database', 5432), ...dnsFlows(RELEASE)].sort());
  });

  test('external database: the aggregator may reach only the configured CIDR on database.port', () => {
    const { flows } = matrix(render(['external-db-values.yaml']), 'logbus');
    expect(flows).toEqual(
      [
        flow('test', 'aggregator', 8080),
        flow('ns-client', 'aggregator', 8080),
        flow('aggregator', 'external-db', 6432),
        ...dnsFlows(['aggregator', 'test']),
      ].sort(),
    );
  });

  test('an Ingress controller and a Gateway in front (extraIngressFrom): their pods reach aggregator:8080 and nothing else', () => {
    const front = [
      outsider('ingress-controller', 'ingress-nginx', { 'app.kubernetes.io/name': 'ingress-nginx' }, '10.244.2.2'),
      outsider('gateway-proxy', 'gateway-system', { app: 'envoy' }, '10.244.2.3'),
    ];
    const exposed = (values: string[]) => {
      const objects = renderChart({
        release: 'logbus',
        namespace: 'logbus',
        valuesFiles: [...values.map((v) => join(CHART_DIR, 'ci', v)), join(REPO_ROOT, 'ops/test/fixtures/exposure-values.yaml')],
      });
      const pods = podTemplates(objects).map(podEndpoint);
      return flowMatrix(
        objects.filter((o) => o.kind === 'NetworkPolicy'),
        [...pods, ...WORLD('logbus'), ...front],
        new Set(pods.map((p) => p.name)),
        PORTS,
      );
    };
    const inFront = [flow('ingress-controller', 'aggregator', 8080), flow('gateway-proxy', 'aggregator', 8080)];
    // Bundled PostgreSQL: the controller may not reach it, nor any other pod of the release.
    expect(exposed([])).toEqual(
      [
        ...inFront,
        flow('test', 'aggregator', 8080),
        flow('ns-client', 'aggregator', 8080),
        flow('aggregator', 'database', 5432),
        ...dnsFlows(['aggregator', 'database', 'test']),
      ].sort(),
    );
    // The scenario with an external database over TLS: what the front may open is the same.
    const fromFront = exposed(['ingress-values.yaml']).filter((f) => f.startsWith('ingress-controller ') || f.startsWith('gateway-proxy '));
    expect(fromFront).toEqual(inFront.sort());
  });

  test('networkPolicy.enabled=false renders no policies', () => {
    expect(render(['netpol-off-values.yaml']).filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });

  test('a default-deny policy (Ingress + Egress, no rules) selects every pod of the release', () => {
    for (const objects of [render(['jobs-values.yaml']), render(['existing-secret-values.yaml']), renderKustomize(join(REPO_ROOT, 'k8s'))]) {
      const deny = objects.filter(
        (o) => o.kind === 'NetworkPolicy' && !o.spec.ingress && !o.spec.egress && ['Ingress', 'Egress'].every((t) => o.spec.policyTypes?.includes(t)),
      );
      expect(deny).toHaveLength(1);
      for (const t of podTemplates(objects)) expect(selectorMatches(deny[0]!.spec.podSelector, t.labels)).toBe(true);
    }
  });

  test('kustomize k8s/ (with k8s/jobs/) allows the same flows as the chart', () => {
    const objects = [...renderKustomize(join(REPO_ROOT, 'k8s')), ...renderKustomize(join(REPO_ROOT, 'k8s/jobs'))].map((o) => ({
      ...o,
      metadata: { ...o.metadata, namespace: 'logbus' },
    }));
    const { flows } = matrix(objects, 'logbus');
    const pods = ['aggregator', 'database', 'publisher', 'k6'];
    expect(flows).toEqual([...CLIENT_FLOWS.filter((f) => !f.startsWith('test ')), flow('aggregator', 'database', 5432), ...dnsFlows(pods)].sort());
  });
});
