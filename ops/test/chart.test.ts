/**
 * charts/aggregator with the real helm v3.17: `helm lint --strict` and `helm template` for every
 * ci/*-values.yaml scenario, every rendered object validated against the Kubernetes schemas
 * (unknown fields rejected), and the deployment policy checked on each scenario.
 */
import { beforeAll, describe, expect, test } from 'bun:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { CHART_DIR, type K8sObject, REPO_ROOT, renderChart, run } from '../src/chart.ts';
import { ensureK8sTools } from '../src/k8s-tools.ts';
import { aggregatorProblems, exposureProblems, labelProblems, podProblems, selectorProblems } from './support/checks.ts';
import { validateAll } from './support/k8s-schema.ts';

const SCENARIOS = readdirSync(join(CHART_DIR, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();
const FULLNAME = 'logbus-aggregator';
/** Secrets a scenario expects the operator to have created (referenced, not rendered). */
const EXISTING: Record<string, string[]> = {
  'existing-secret-values.yaml': ['logbus-db-credentials', 'logbus-auth'],
  'external-db-values.yaml': ['logbus-external-db'],
  'ingress-values.yaml': ['logbus-external-db', 'logbus-db-ca'],
};

let helm = '';
const rendered = new Map<string, K8sObject[]>();

// Seven `helm template` runs (and a first-time tools download): well over bun's 5 s hook default
// on a busy machine (seen in `npm test`), so the bound is generous.
beforeAll(() => {
  helm = ensureK8sTools().helm;
  for (const s of SCENARIOS) {
    rendered.set(s, renderChart({ release: 'logbus', namespace: 'logbus', valuesFiles: [join(CHART_DIR, 'ci', s)] }));
  }
  // Seven helm renders: on a loaded machine they outlast Bun's 5 s hook default, which then
  // killed a helm spawn mid-way (seen in a full `npm test`).
}, 180_000);

test('there are ci scenarios for defaults, HA, existing secrets, external DB, no policies, jobs, kind and ingress', () => {
  expect(SCENARIOS).toEqual(
    expect.arrayContaining([
      'default-values.yaml',
      'ha-values.yaml',
      'existing-secret-values.yaml',
      'external-db-values.yaml',
      'netpol-off-values.yaml',
      'jobs-values.yaml',
      'kind-values.yaml',
      'ingress-values.yaml',
    ]),
  );
});

describe.each(SCENARIOS)('scenario ci/%s', (scenario) => {
  const objects = () => rendered.get(scenario)!;

  test('helm lint --strict passes', () => {
    const out = run(helm, ['lint', '--strict', CHART_DIR, '--values', join(CHART_DIR, 'ci', scenario)]);
    expect(out).toContain('0 chart(s) failed');
  });

  test('every object is valid against the Kubernetes schemas, unknown fields rejected', () => {
    expect(objects().length).toBeGreaterThan(5);
    expect(validateAll(objects())).toEqual([]);
  });

  test('every object carries the common labels', () => {
    expect(labelProblems(objects(), 'Helm')).toEqual([]);
  });

  test('only the aggregator Service is exposed', () => {
    expect(exposureProblems(objects(), FULLNAME)).toEqual([]);
  });

  test('every container is hardened, has resources, /tmp, and probes where long-running', () => {
    expect(podProblems(objects())).toEqual([]);
  });

  test('aggregator: probes on /health and /ready, grace period exceeds preStop + drain, replicas > 1', () => {
    expect(aggregatorProblems(objects())).toEqual([]);
  });

  test('selectors match their pods and every reference resolves', () => {
    expect(selectorProblems(objects(), EXISTING[scenario] ?? [])).toEqual([]);
  });
});

/** An Ingress and an HTTPRoute added to each scenario (the ingress one has its own as well). */
const EXPOSURE = join(REPO_ROOT, 'ops/test/fixtures/exposure-values.yaml');

describe.each(SCENARIOS)('scenario ci/%s with an Ingress and an HTTPRoute added', (scenario) => {
  test('both render, validate against the schemas, carry TLS and lead only to the aggregator Service', () => {
    const objects = renderChart({ release: 'logbus', namespace: 'logbus', valuesFiles: [join(CHART_DIR, 'ci', scenario), EXPOSURE] });
    const ingress = objects.find((o) => o.kind === 'Ingress');
    const route = objects.find((o) => o.kind === 'HTTPRoute');
    // Positive control: the checks below see the two objects they are about.
    expect(ingress?.spec.tls).toEqual([{ secretName: 'logbus-tls', hosts: ['logbus.example.com'] }]);
    expect(route?.spec.parentRefs[0]).toMatchObject({ name: 'shared-gateway', namespace: 'gateway-system', sectionName: 'https' });
    expect(validateAll(objects)).toEqual([]);
    expect(labelProblems(objects, 'Helm')).toEqual([]);
    expect(exposureProblems(objects, FULLNAME)).toEqual([]);
    expect(selectorProblems(objects, EXISTING[scenario] ?? [])).toEqual([]);
  });
});

describe('values', () => {
  const fails = (set: string[]) => {
    try {
      renderChart({ set });
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };

  test('values.schema.json rejects wrong types, bad enums, out-of-range numbers and unknown keys', () => {
    expect(fails(['replicaCount=0'])).toMatch(/replicaCount/);
    expect(fails(['config.logLevel=loud'])).toMatch(/logLevel/);
    expect(fails(['service.type=Public'])).toMatch(/service\.type/);
    expect(fails(['publisher.dupRate=1'])).toMatch(/dupRate/);
    expect(fails(['replicaCout=3'])).toMatch(/replicaCout/);
    expect(fails(['config.retention=7 days'])).toMatch(/retention/);
    expect(fails(['config.maxStorageBytes=-1'])).toMatch(/maxStorageBytes/);
  });

  test('retention settings reach the aggregator as the durations it parses', () => {
    const deployment = renderChart({
      set: ['config.retention=3d', 'config.dedupWindow=2w', 'config.storageInterval=1h', 'config.maxStorageBytes=10737418240'],
    }).find((o) => o.kind === 'Deployment')!;
    const env = Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    expect(env).toMatchObject({ RETENTION: '3d', DEDUP_WINDOW: '2w', STORAGE_INTERVAL: '1h', MAX_STORAGE_BYTES: '10737418240' });
  });

  test('grafanaDatasource: off by default; on, a ConfigMap with the sidecar label holding a Loki data source at the Service', () => {
    const configMap = (objects: K8sObject[]) => objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-grafana-datasource'));
    expect(configMap(renderChart({}))).toBeUndefined();
    const on = configMap(renderChart({ set: ['grafanaDatasource.enabled=true'] }))!;
    expect(on.metadata.labels?.grafana_datasource).toBe('1');
    const provisioning = parseDocument(on.data['logbus-datasource.yaml']).toJS();
    expect(provisioning).toEqual({
      apiVersion: 1,
      datasources: [
        {
          name: 'logbus',
          uid: 'logbus',
          type: 'loki',
          access: 'proxy',
          url: `http://${FULLNAME}.default.svc:8080`,
          jsonData: { maxLines: 1000, httpHeaderName1: 'Authorization' },
          // Grafana expands the variable from its own environment when it provisions.
          secureJsonData: { httpHeaderValue1: `Bearer $${'{'}LOGBUS_READ_TOKEN}` },
        },
      ],
    });
    const noToken = configMap(renderChart({ set: ['grafanaDatasource.enabled=true', 'grafanaDatasource.tokenEnvVar='] }))!;
    expect(parseDocument(noToken.data['logbus-datasource.yaml']).toJS().datasources[0].secureJsonData).toBeUndefined();
    expect(fails(['grafanaDatasource.maxLines=6000'])).toMatch(/maxLines/);
  });

  test('a grace period not longer than preStop + drain fails rendering', () => {
    expect(fails(['terminationGracePeriodSeconds=15'])).toMatch(/must exceed/);
  });

  test('postgresql.enabled=false without database.existingSecret fails rendering', () => {
    expect(fails(['postgresql.enabled=false'])).toMatch(/database\.existingSecret/);
  });

  test('the generated PostgreSQL Secret holds a 32-character password and the matching URL', () => {
    const secret = renderChart({}).find((o) => o.kind === 'Secret')!;
    const password = Buffer.from(secret.data.password, 'base64').toString();
    const url = Buffer.from(secret.data['database-url'], 'base64').toString();
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(url).toBe(`postgres://logbus:${password}@${FULLNAME}-postgresql:5432/logbus`);
    expect(secret.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });

  test('auth.existingSecret feeds AUTH_TOKEN to the aggregator and one client token to the Jobs', () => {
    const objects = rendered.get('existing-secret-values.yaml')!;
    const envOf = (kind: string, component: string) =>
      objects.find((o) => o.kind === kind && o.metadata.labels?.['app.kubernetes.io/component'] === component)!.spec.template.spec.containers[0].env;
    expect(envOf('Deployment', 'aggregator').find((e: any) => e.name === 'AUTH_TOKEN').valueFrom.secretKeyRef).toMatchObject({
      name: 'logbus-auth',
      key: 'tokens',
    });
    expect(envOf('Job', 'publisher').find((e: any) => e.name === 'PUBLISHER_TOKEN').valueFrom.secretKeyRef).toEqual({
      name: 'logbus-auth',
      key: 'client-token',
    });
    expect(envOf('Job', 'k6').find((e: any) => e.name === 'AUTH_TOKEN').valueFrom.secretKeyRef).toEqual({ name: 'logbus-auth', key: 'client-token' });
  });

  test('auth.scopedTokensKey mounts the scoped tokens read-only as AUTH_TOKENS_FILE; a token Secret makes auth required', () => {
    const objects = rendered.get('existing-secret-values.yaml')!;
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'aggregator')!;
    const container = deployment.spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e]));
    expect(env.AUTH_TOKEN.valueFrom.secretKeyRef).toEqual({ name: 'logbus-auth', key: 'tokens', optional: true });
    expect(env.AUTH_TOKENS_FILE.value).toBe('/etc/logbus/auth/tokens');
    expect(env.AUTH_REQUIRED.value).toBe('true');
    expect(env.METRICS_AUTH.value).toBe('true');
    expect(container.volumeMounts).toContainEqual({ name: 'auth-tokens', mountPath: '/etc/logbus/auth', readOnly: true });
    expect(deployment.spec.template.spec.volumes).toContainEqual({
      name: 'auth-tokens',
      secret: { secretName: 'logbus-auth', defaultMode: 0o440, items: [{ key: 'scoped-tokens', path: 'tokens' }] },
    });
    // Without a token Secret: no auth variables at all, and METRICS_AUTH cannot be asked for.
    const plain = renderChart({})
      .find((o) => o.kind === 'Deployment')!
      .spec.template.spec.containers[0].env.map((e: any) => e.name);
    for (const name of ['AUTH_TOKEN', 'AUTH_TOKENS_FILE', 'AUTH_REQUIRED', 'METRICS_AUTH']) expect(plain).not.toContain(name);
    expect(plain).toContain('SUBSCRIBE_MAX');
    expect(fails(['auth.metricsAuth=true'])).toMatch(/auth\.metricsAuth=true needs auth\.existingSecret/);
  });

  test('ingress and httpRoute lead to the aggregator Service with TLS; the database CA is mounted and named in NODE_EXTRA_CA_CERTS', () => {
    const objects = rendered.get('ingress-values.yaml')!;
    const ingress = objects.find((o) => o.kind === 'Ingress')!;
    expect(ingress.spec.tls).toEqual([{ secretName: 'logbus-tls', hosts: ['logbus.example.com'] }]);
    expect(ingress.metadata.annotations?.['cert-manager.io/cluster-issuer']).toBe('letsencrypt');
    expect(ingress.spec.rules[0].host).toBe('logbus.example.com');
    const route = objects.find((o) => o.kind === 'HTTPRoute')!;
    expect(route.spec.parentRefs[0]).toMatchObject({ name: 'shared-gateway', namespace: 'gateway-system', sectionName: 'https' });
    expect(route.spec.rules[0].timeouts).toEqual({ request: '0s' });
    const pod = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec;
    const env = Object.fromEntries(pod.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/etc/logbus/db-ca/ca.crt');
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'db-ca', mountPath: '/etc/logbus/db-ca', readOnly: true });
    expect(pod.volumes).toContainEqual({
      name: 'db-ca',
      secret: { secretName: 'logbus-db-ca', defaultMode: 0o444, items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
    // Off by default: nothing exposed beyond the Service, no CA variable.
    const plain = renderChart({});
    expect(plain.filter((o) => o.kind === 'Ingress' || o.kind === 'HTTPRoute')).toEqual([]);
    expect(plain.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].env.map((e: any) => e.name)).not.toContain(
      'NODE_EXTRA_CA_CERTS',
    );
    // Behind default-deny policies a controller needs a way in, and a route needs a Gateway.
    expect(fails(['ingress.enabled=true'])).toMatch(/networkPolicy\.extraIngressFrom/);
    expect(fails(['httpRoute.enabled=true'])).toMatch(/httpRoute\.parentRefs/);
    expect(fails(['httpRoute.enabled=true', 'httpRoute.parentRefs[0].name=gw'])).toMatch(/networkPolicy\.extraIngressFrom/);
    expect(renderChart({ set: ['ingress.enabled=true', 'networkPolicy.enabled=false'] }).some((o) => o.kind === 'Ingress')).toBe(true);
  });

  test('the chart renders for the oldest supported Kubernetes (1.30: native preStop sleep)', () => {
    expect(renderChart({ kubeVersion: '1.30.0' }).length).toBeGreaterThan(5);
    expect(() => renderChart({ kubeVersion: '1.29.0' })).toThrow(/kubeVersion/);
  });
});
