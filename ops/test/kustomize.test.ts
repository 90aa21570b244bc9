/**
 * k8s/ (kustomize): `kubectl kustomize` with the real kubectl v1.32, the same schema and policy
 * checks as the chart, and parity with the chart: same objects, names, labels (but
 * helm.sh/chart and managed-by), ports, env and specs; the files are current with the sync script.
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { type K8sObject, renderChart, renderKustomize, REPO_ROOT } from '../src/chart.ts';
import { staleFiles } from '../scripts/sync.ts';
import { aggregatorProblems, exposureProblems, labelProblems, podProblems, selectorProblems } from './support/checks.ts';
import { validateAll } from './support/k8s-schema.ts';

const app = renderKustomize(join(REPO_ROOT, 'k8s'));
const jobs = renderKustomize(join(REPO_ROOT, 'k8s/jobs'));
const all = [...app, ...jobs];

/** Chart objects as kustomize would have them: no namespace, no Helm-only labels or hooks. */
function normalizeChart(objects: K8sObject[]): K8sObject[] {
  const strip = (labels?: Record<string, string>) => {
    if (!labels) return;
    delete labels['helm.sh/chart'];
    if (labels['app.kubernetes.io/managed-by']) labels['app.kubernetes.io/managed-by'] = 'kustomize';
  };
  return objects
    .filter((o) => !o.metadata.annotations?.['helm.sh/hook'])
    .map((o) => {
      const c = structuredClone(o);
      delete c.metadata.namespace;
      strip(c.metadata.labels);
      strip(c.spec?.template?.metadata?.labels);
      if (c.metadata.annotations) {
        delete c.metadata.annotations['helm.sh/resource-policy'];
        if (Object.keys(c.metadata.annotations).length === 0) delete c.metadata.annotations;
      }
      return c;
    });
}

const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const byKey = (objects: K8sObject[]) => new Map(objects.map((o) => [key(o), o]));

describe('k8s/ (kustomize)', () => {
  test('kubectl kustomize k8s/ and k8s/jobs/ render the app and the two Jobs', () => {
    expect(app.map(key).sort()).toEqual([
      'Deployment/logbus-aggregator',
      'NetworkPolicy/logbus-aggregator-aggregator',
      'NetworkPolicy/logbus-aggregator-clients',
      'NetworkPolicy/logbus-aggregator-default-deny',
      'NetworkPolicy/logbus-aggregator-dns',
      'NetworkPolicy/logbus-aggregator-postgresql',
      'PodDisruptionBudget/logbus-aggregator',
      'Secret/logbus-aggregator-postgresql',
      'Service/logbus-aggregator',
      'Service/logbus-aggregator-postgresql',
      'ServiceAccount/logbus-aggregator',
      'StatefulSet/logbus-aggregator-postgresql',
    ]);
    expect(jobs.map(key).sort()).toEqual(['ConfigMap/logbus-aggregator-k6-script', 'Job/logbus-aggregator-k6', 'Job/logbus-aggregator-publisher']);
  });

  test('every object is valid against the Kubernetes schemas, unknown fields rejected', () => {
    expect(validateAll(all)).toEqual([]);
  });

  test('labels, exposure, hardening, probes and selectors pass the same policy as the chart', () => {
    expect(labelProblems(all, 'kustomize')).toEqual([]);
    expect(exposureProblems(all, 'logbus-aggregator')).toEqual([]);
    expect(podProblems(all)).toEqual([]);
    expect(aggregatorProblems(all)).toEqual([]);
    expect(selectorProblems(all)).toEqual([]);
  });

  test('generated files are current (else run `npm run -w @logbus/ops sync`)', () => {
    expect(staleFiles()).toEqual([]);
  });

  test('same objects, names, labels, ports, env and specs as the chart for release logbus', () => {
    const chart = byKey(normalizeChart(renderChart({ release: 'logbus', set: ['publisher.enabled=true', 'k6.enabled=true'] })));
    const kust = byKey(all);
    expect([...kust.keys()].sort()).toEqual([...chart.keys()].sort());
    for (const [k, o] of kust) {
      const c = chart.get(k)!;
      if (o.kind === 'Secret') {
        // Password differs by design (random in the chart, a dev literal here); keys and URL shape agree.
        expect(Object.keys(o.data).sort()).toEqual(Object.keys(c.data).sort());
        expect(o.metadata.labels).toEqual(c.metadata.labels);
        const url = Buffer.from(o.data['database-url'], 'base64').toString();
        expect(url).toMatch(/^postgres:\/\/logbus:[^@]+@logbus-aggregator-postgresql:5432\/logbus$/);
        continue;
      }
      expect({ key: k, ...o }).toEqual({ key: k, ...c });
    }
  });
});
