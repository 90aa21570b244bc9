/**
 * The operator's install: charts/logbus-operator linted and rendered by the real helm, every
 * object (CRDs included) validated with the same schema tools as the aggregator chart; the CRDs
 * structural, current with ops/src/operator/crds.ts, defaulting to the reconcilers' defaults;
 * the examples in k8s/operator valid against them; RBAC without wildcards.
 */
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { type K8sObject, parseManifests, REPO_ROOT, run } from '../../src/chart.ts';
import { ensureK8sTools } from '../../src/k8s-tools.ts';
import { customResourceDefinitions } from '../../src/operator/crds.ts';
import { LOGBUS_DEFAULTS, MANAGED_DB_DEFAULTS, withDefaults } from '../../src/operator/resources.ts';
import { staleCrdFiles } from '../../scripts/operator-crds.ts';
import { labelProblems } from '../support/checks.ts';
import { validateAll } from '../support/k8s-schema.ts';

const CHART = join(REPO_ROOT, 'charts/logbus-operator');
const SCENARIOS = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml'));
const render = (values: string[] = [], set: string[] = []) =>
  parseManifests(
    run(ensureK8sTools().helm, [
      'template',
      'logbus',
      CHART,
      '--namespace',
      'logbus-system',
      '--include-crds',
      ...values.flatMap((v) => ['--values', v]),
      ...set.flatMap((s) => ['--set', s]),
    ]),
    'helm template logbus-operator',
  );

/** Problems that make a schema non-structural (apiextensions' rules, the ones our schemas could break). */
function structuralProblems(schema: Record<string, any>, path = ''): string[] {
  const out: string[] = [];
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  if (!schema.type && !intOrString && !schema['x-kubernetes-preserve-unknown-fields']) out.push(`${path || '/'}: no type`);
  if (schema.anyOf && !intOrString) out.push(`${path}: anyOf outside int-or-string`);
  if (schema.properties && schema.additionalProperties) out.push(`${path}: both properties and additionalProperties`);
  for (const [k, v] of Object.entries<Record<string, any>>(schema.properties ?? {})) out.push(...structuralProblems(v, `${path}/${k}`));
  if (schema.items) out.push(...structuralProblems(schema.items, `${path}[]`));
  if (typeof schema.additionalProperties === 'object') out.push(...structuralProblems(schema.additionalProperties, `${path}{}`));
  return out;
}

describe.each(SCENARIOS)('charts/logbus-operator ci/%s', (scenario) => {
  const values = [join(CHART, 'ci', scenario)];
  const objects = render(values);

  test('helm lint --strict passes', () => {
    expect(run(ensureK8sTools().helm, ['lint', '--strict', CHART, '--values', values[0]!])).toContain('0 chart(s) failed');
  });

  test('every object (CRDs, RBAC, Lease, Deployment) is valid against the Kubernetes schemas, unknown fields rejected', () => {
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['CustomResourceDefinition', 'Deployment', 'Lease', 'RoleBinding']));
    expect(validateAll(objects)).toEqual([]);
    expect(
      labelProblems(
        objects.filter((o) => o.kind !== 'CustomResourceDefinition'),
        'Helm',
      ).filter((p) => !p.includes('unknown component operator')),
    ).toEqual([]);
  });

  test('RBAC: no wildcard, secrets only get/create, the Lease only by name, no create on leases', () => {
    const rules = objects
      .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
      .flatMap((o) => o.rules as { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[]);
    expect(rules.length).toBeGreaterThan(5);
    for (const r of rules) for (const x of [...r.apiGroups, ...r.resources, ...r.verbs]) expect(x).not.toBe('*');
    for (const r of rules.filter((x) => x.resources.includes('secrets'))) expect(r.verbs.sort()).toEqual(['create', 'get']);
    const lease = rules.filter((r) => r.apiGroups.includes('coordination.k8s.io'));
    expect(lease).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['logbus-operator'], verbs: ['get', 'update'] },
    ]);
  });

  test('the operator pod is hardened and probed; its Lease is kept on uninstall', () => {
    const d = objects.find((o) => o.kind === 'Deployment')!;
    const c = d.spec.template.spec.containers[0];
    expect(d.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path]).toEqual(['/healthz', '/readyz']);
    expect(d.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('logbus-operator');
    expect(objects.find((o) => o.kind === 'Lease')!.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });
});

test('a renew deadline not shorter than the lease duration fails rendering', () => {
  expect(() => render([], ['leaderElection.renewDeadlineSeconds=15'])).toThrow(/renewDeadlineSeconds must be shorter/);
});

describe('CRDs', () => {
  const crds = customResourceDefinitions();

  test('charts/logbus-operator/crds is current with ops/src/operator/crds.ts', () => {
    expect(staleCrdFiles()).toEqual([]);
  });

  test('four CRDs, each structural, with the status subresource and printer columns', () => {
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(['LoadTest', 'LogBus', 'LogTopic', 'PublishRun']);
    for (const c of crds) {
      const v = c.spec.versions[0];
      expect(structuralProblems(v.schema.openAPIV3Schema)).toEqual([]);
      expect(v.subresources).toEqual({ status: {} });
      expect(v.additionalPrinterColumns.length).toBeGreaterThan(2);
    }
  });

  test('defaulting an empty LogBus spec (as the API server does) gives the reconcilers’ defaults', () => {
    const ajv = new Ajv({ strict: false, useDefaults: true });
    addFormats(ajv);
    const schema = crds.find((c) => c.spec.names.kind === 'LogBus')!.spec.versions[0].schema.openAPIV3Schema;
    const obj = { apiVersion: 'logbus.dev/v1alpha1', kind: 'LogBus', metadata: {}, spec: { database: { managed: {} } } };
    expect(ajv.validate(schema, obj)).toBe(true);
    const { database, ...rest } = obj.spec as Record<string, any>;
    const { database: _d, auth: _a, ...expected } = withDefaults({});
    expect(rest).toEqual(expected);
    expect(database.managed).toEqual(MANAGED_DB_DEFAULTS);
    expect(rest.config).toEqual(LOGBUS_DEFAULTS.config);
  });

  test('the examples in k8s/operator are valid; a bad one is refused', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const byKind = new Map(crds.map((c) => [c.spec.names.kind, ajv.compile(c.spec.versions[0].schema.openAPIV3Schema)]));
    const examples = readdirSync(join(REPO_ROOT, 'k8s/operator')).flatMap((f) =>
      parseManifests(readFileSync(join(REPO_ROOT, 'k8s/operator', f), 'utf8'), f),
    ) as K8sObject[];
    expect(examples.map((e) => e.kind).sort()).toEqual(['LoadTest', 'LogBus', 'LogTopic', 'PublishRun']);
    for (const e of examples) {
      const validate = byKind.get(e.kind)!;
      expect({ kind: e.kind, valid: validate(e), errors: validate.errors ?? null }).toEqual({ kind: e.kind, valid: true, errors: null });
    }
    const topic = examples.find((e) => e.kind === 'LogTopic')!;
    expect(byKind.get('LogTopic')!({ ...topic, spec: { ...topic.spec, retention: 'forever' } })).toBe(false);
  });
});
