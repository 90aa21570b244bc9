/**
 * One source of truth: the objects the operator applies for a LogBus equal the objects
 * charts/aggregator renders for the equivalent values (same kinds, names, labels but managed-by,
 * specs: security contexts, probes, env, volumes, policies), for several settings. Only the
 * chart's helm-only objects (the `helm test` Pod, the generated Secret whose password differs per
 * render) and the operator's own access policy differ, and those are listed here by name.
 */
import { describe, expect, test } from 'bun:test';
import { type K8sObject, renderChart } from '../../src/chart.ts';
import { databaseSecret, desiredObjects } from '../../src/operator/desired/logbus.ts';
import { loadTestObjects, publishJob } from '../../src/operator/desired/runs.ts';
import { LOGBUS, type LogBus, type LogBusSpec } from '../../src/operator/resources.ts';
import { podProblems, selectorProblems } from '../support/checks.ts';
import { validateAll } from '../support/k8s-schema.ts';

const logBus = (spec: Partial<LogBusSpec>, name = 'logbus'): LogBus => ({
  apiVersion: `${LOGBUS.group}/${LOGBUS.version}`,
  kind: 'LogBus',
  metadata: { name, namespace: 'logbus', uid: 'uid-lb' },
  spec: spec as LogBusSpec,
});

/** A scenario: a LogBus spec and the chart values that mean the same. */
const SCENARIOS: { name: string; spec: Partial<LogBusSpec>; set: string[]; setJson?: string[] }[] = [
  { name: 'defaults', spec: {}, set: [] },
  {
    name: 'tuned, external database, scoped auth, no spread',
    spec: {
      replicas: 3,
      image: 'registry.example/logbus-aggregator:1.2.3',
      config: { workers: 8, retention: '3d', maxStorageBytes: 10737418240, logLevel: 'debug' } as LogBusSpec['config'],
      database: { external: { secretName: 'ext-db', key: 'url', port: 6432 } },
      auth: { secretName: 'logbus-auth', tokensKey: 'tokens', scopedTokensKey: 'scoped-tokens', metricsAuth: true },
      topologySpread: false,
      resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '1500m', memory: '1Gi' } },
    },
    set: [
      'replicaCount=3',
      'image.repository=registry.example/logbus-aggregator',
      'image.tag=1.2.3',
      'config.workers=8',
      'config.retention=3d',
      'config.maxStorageBytes=10737418240',
      'config.logLevel=debug',
      'postgresql.enabled=false',
      'database.existingSecret=ext-db',
      'database.existingSecretKey=url',
      'database.port=6432',
      'auth.existingSecret=logbus-auth',
      'auth.existingSecretKey=tokens',
      'auth.scopedTokensKey=scoped-tokens',
      'auth.metricsAuth=true',
      'topologySpread=false',
      'resources.requests.cpu=500m',
      'resources.requests.memory=512Mi',
      'resources.limits.cpu=1500m',
      'resources.limits.memory=1Gi',
    ],
  },
  {
    name: 'network policy off, storage class and size',
    spec: { networkPolicy: { enabled: false }, database: { managed: { storageSize: '20Gi', storageClassName: 'fast' } as never } },
    set: ['networkPolicy.enabled=false', 'postgresql.persistence.size=20Gi', 'postgresql.persistence.storageClass=fast'],
  },
];

/**
 * Drops what legitimately differs: who manages it, ownership, namespace, the chart label, and the
 * version label (the chart's appVersion; the operator's is the tag of the image it runs, checked below).
 */
function normalize(o: K8sObject): K8sObject {
  const out = structuredClone(o);
  const strip = (labels?: Record<string, string>) => {
    if (!labels) return;
    delete labels['helm.sh/chart'];
    delete labels['app.kubernetes.io/managed-by'];
    delete labels['app.kubernetes.io/version'];
  };
  strip(out.metadata.labels);
  strip(out.spec?.template?.metadata?.labels);
  delete out.metadata.ownerReferences;
  delete out.metadata.namespace;
  return out;
}

const idOf = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const HELM_ONLY = new Set(['Pod/logbus-aggregator-test-ready', 'Secret/logbus-aggregator-postgresql']);
const OPERATOR_ONLY = new Set(['NetworkPolicy/logbus-aggregator-operator']);

describe.each(SCENARIOS)('LogBus $name', ({ spec, set, setJson }) => {
  const chart = renderChart({ release: 'logbus', namespace: 'logbus', set, setJson }).filter((o) => !HELM_ONLY.has(idOf(o)));
  const ours = desiredObjects(logBus(spec));

  test('the same kinds and names as the chart (positive control: the chart rendered a Deployment)', () => {
    expect(chart.some((o) => o.kind === 'Deployment')).toBe(true);
    const theirs = chart.map(idOf).sort();
    expect(
      ours
        .map(idOf)
        .filter((id) => !OPERATOR_ONLY.has(id))
        .sort(),
    ).toEqual(theirs);
  });

  test('every object equals the chart’s but for managed-by, owner and namespace', () => {
    for (const o of chart) {
      const mine = ours.find((x) => idOf(x) === idOf(o));
      expect({ id: idOf(o), object: normalize(mine!) }).toEqual({ id: idOf(o), object: normalize(o) });
    }
  });

  test('the objects pass the Kubernetes schemas and the chart’s own policy checks', () => {
    const all = [...ours, ...(spec.database?.external ? [] : [databaseSecret(logBus(spec), 'x'.repeat(32))])];
    expect(validateAll(all)).toEqual([]);
    expect(podProblems(all)).toEqual([]);
    expect(selectorProblems(all, spec.database?.external ? ['ext-db', 'logbus-auth'] : [])).toEqual([]);
  });

  test('every object is owned by the LogBus (deletion cascades) and labelled with the image tag it runs', () => {
    const tag = (spec.image ?? 'logbus-aggregator:0.1.0').split(':').pop();
    for (const o of ours) expect(o.metadata.labels?.['app.kubernetes.io/version']).toBe(tag);
    for (const o of ours) expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'LogBus', uid: 'uid-lb', controller: true })]);
  });
});

test('the managed database Secret carries the chart’s keys and a URL that names its password and Service', () => {
  const secret = databaseSecret(logBus({}), 'p'.repeat(32));
  const chartSecret = renderChart({ release: 'logbus', namespace: 'logbus' }).find((o) => o.kind === 'Secret')!;
  expect(Object.keys(secret.data).sort()).toEqual(Object.keys(chartSecret.data).sort());
  expect(Buffer.from(secret.data['database-url'], 'base64').toString()).toBe(
    `postgres://logbus:${'p'.repeat(32)}@logbus-aggregator-postgresql:5432/logbus`,
  );
});

describe('PublishRun and LoadTest Jobs', () => {
  const chart = renderChart({ release: 'logbus', namespace: 'logbus', set: ['publisher.enabled=true', 'k6.enabled=true'] });
  const run = (kind: string, spec: Record<string, unknown>) =>
    ({
      apiVersion: 'logbus.dev/v1alpha1',
      kind,
      metadata: { name: 'r1', namespace: 'logbus', uid: 'uid-run' },
      spec: { logBus: 'logbus', ...spec },
    }) as any;
  /** The Job spec without what names the run (the chart's k6 script checksum annotation included). */
  const jobSpec = (o: K8sObject) => {
    const spec = normalize(o).spec;
    delete spec.template.metadata.annotations;
    return spec;
  };

  test('the publisher Job spec equals the chart’s publisher Job (hardening, client label, env, limits)', () => {
    const theirs = chart.find((o) => o.kind === 'Job' && o.metadata.name === 'logbus-aggregator-publisher')!;
    expect(jobSpec(publishJob(run('PublishRun', { image: 'logbus-publisher:0.1.0' }), logBus({})))).toEqual(jobSpec(theirs));
  });

  test('the k6 Job spec equals the chart’s but for the script ConfigMap, which the run owns', () => {
    const theirs = chart.find((o) => o.kind === 'Job' && o.metadata.name === 'logbus-aggregator-k6')!;
    const [configMap, job] = loadTestObjects(run('LoadTest', {}), logBus({}), 'export default function () {}') as [K8sObject, K8sObject];
    const mine = jobSpec(job);
    expect(mine.template.spec.volumes[0].configMap.name).toBe(configMap.metadata.name);
    mine.template.spec.volumes[0].configMap.name = 'logbus-aggregator-k6-script';
    expect(mine).toEqual(jobSpec(theirs));
    expect(validateAll([configMap, job])).toEqual([]);
  });
});
