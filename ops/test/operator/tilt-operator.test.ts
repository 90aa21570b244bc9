/**
 * `tilt up -- --operator`: the Tiltfile evaluated with Tilt's built-ins recorded
 * (../support/tilt_stub.py) builds the operator image from ops/Dockerfile, deploys
 * charts/logbus-operator, names only objects that chart renders, and points Tilt's image
 * injection at a field the CRDs have. Without the flag none of it happens.
 */
import { expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests, REPO_ROOT, run } from '../../src/chart.ts';
import { ensureK8sTools } from '../../src/k8s-tools.ts';
import { customResourceDefinitions } from '../../src/operator/crds.ts';

type Call = { fn: string; args: Record<string, any> };
const evaluate = (...flags: string[]): Call[] =>
  JSON.parse(run('python3', [join(REPO_ROOT, 'ops/test/support/tilt_stub.py'), join(REPO_ROOT, 'Tiltfile'), ...flags]));

test('without --operator the Tiltfile does not touch the operator', () => {
  const calls = evaluate();
  expect(calls.some((c) => c.fn === 'helm' && c.args.paths === 'charts/logbus-operator')).toBe(false);
  expect(calls.some((c) => c.fn === 'docker_build' && c.args.ref === 'logbus-operator')).toBe(false);
});

test('--operator: image, chart, resources and image injection all refer to what exists', () => {
  const calls = evaluate('--operator');
  const build = calls.find((c) => c.fn === 'docker_build' && c.args.ref === 'logbus-operator')!;
  expect(existsSync(join(REPO_ROOT, build.args.dockerfile))).toBe(true);
  for (const p of build.args.only) expect(existsSync(join(REPO_ROOT, p))).toBe(true);
  const h = calls.find((c) => c.fn === 'helm' && c.args.paths === 'charts/logbus-operator')!.args;
  const objects = parseManifests(
    run(ensureK8sTools().helm, [
      'template',
      h.name,
      join(REPO_ROOT, h.paths),
      '--namespace',
      h.namespace,
      '--include-crds',
      ...h.set.flatMap((s: string) => ['--set', s]),
    ]),
  );
  const rendered = new Set(objects.map((o) => `${o.metadata.name}:${o.kind.toLowerCase()}`));
  const operator = calls.find((c) => c.fn === 'k8s_resource' && c.args.workload === 'logbus-operator')!.args;
  expect(objects.some((o) => o.kind === 'Deployment' && o.metadata.name === 'logbus-operator')).toBe(true);
  for (const o of operator.objects) expect(rendered).toContain(o);
  expect(objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].image.split(':')[0]).toBe(build.args.ref);
  const crds = customResourceDefinitions();
  for (const kind of calls.filter((c) => c.fn === 'k8s_kind')) {
    const crd = crds.find((x) => x.spec.names.kind === kind.args.kind)!;
    expect(kind.args.image_json_path).toBe('{.spec.image}');
    expect(crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.image.type).toBe('string');
  }
  for (const y of calls.filter((c) => c.fn === 'k8s_yaml' && typeof c.args.yaml === 'string'))
    expect(existsSync(join(REPO_ROOT, y.args.yaml))).toBe(true);
});
