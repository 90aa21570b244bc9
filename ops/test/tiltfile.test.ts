/**
 * Tiltfile: syntax and formatting with buildifier (npm @bazel/buildifier), then evaluated with
 * recording stand-ins for Tilt's built-ins (support/tilt_stub.py) to check what it asks Tilt to
 * do against the chart it deploys and the Dockerfiles it builds.
 */
import { beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART_DIR, type K8sObject, renderChart, REPO_ROOT, run } from '../src/chart.ts';
import { podTemplates } from './support/policy.ts';

const BUILDIFIER = join(REPO_ROOT, 'node_modules/@bazel/buildifier/buildifier-linux_amd64');
type Call = { fn: string; args: Record<string, any> };
let calls: Call[] = [];
let objects: K8sObject[] = [];
const only = (fn: string) => calls.filter((c) => c.fn === fn);

beforeAll(() => {
  calls = JSON.parse(run('python3', [join(import.meta.dir, 'support/tilt_stub.py'), join(REPO_ROOT, 'Tiltfile')]));
  const h = only('helm')[0]!.args;
  objects = renderChart({
    release: h.name,
    namespace: h.namespace,
    valuesFiles: h.values.map((v: string) => join(REPO_ROOT, v)),
    set: h.set,
  });
  // A helm render and a python run: past bun's 5 s hook default on a busy machine.
}, 120_000);

describe('Tiltfile', () => {
  test('buildifier: valid Starlark, formatted, no lint warnings', () => {
    expect(run(BUILDIFIER, ['--mode=check', '--lint=warn', '--type=bzl', join(REPO_ROOT, 'Tiltfile')])).toBe('');
  });

  test('version_settings comes first and only the kind context is allowed', () => {
    expect(calls[0]!.fn).toBe('version_settings');
    expect(only('allow_k8s_contexts')[0]!.args.contexts).toBe('kind-logbus');
  });

  test('builds both images from their Dockerfiles; the aggregator live-updates src under bun --watch', () => {
    const builds: Record<string, any> = Object.fromEntries(only('docker_build').map((c) => [c.args.ref, c.args]));
    expect(Object.keys(builds).sort()).toEqual(['logbus-aggregator', 'logbus-publisher']);
    for (const b of Object.values(builds)) expect(existsSync(join(REPO_ROOT, b.context, b.dockerfile))).toBe(true);
    const agg = builds['logbus-aggregator'];
    const dockerfile = readFileSync(join(REPO_ROOT, agg.dockerfile), 'utf8');
    const stage = new RegExp(`^FROM \\S+ AS ${agg.target}\\b[\\s\\S]*?CMD \\["--watch", "src/main.ts"\\]`, 'm');
    expect(dockerfile).toMatch(stage);
    const syncs = agg.live_update.filter((s: Call) => s.fn === 'sync').map((s: Call) => s.args);
    expect(syncs).toEqual([{ local_path: 'aggregator/src', remote_path: '/app/aggregator/src' }]);
    expect(agg.live_update[0].fn).toBe('fall_back_on');
  });

  test('the chart is deployed with images Tilt builds and a writable root for live_update', () => {
    const images = podTemplates(objects).flatMap((t) => t.spec.containers.map((c: any) => c.image.split(':')[0]));
    expect(images).toEqual(expect.arrayContaining(['logbus-aggregator', 'logbus-publisher']));
    const h = only('helm')[0]!.args;
    expect(h.paths).toBe('charts/aggregator');
    expect(h.set).toContain('securityContext.readOnlyRootFilesystem=false');
  });

  test('every k8s_resource names a rendered workload and rendered objects', () => {
    const workloads = new Set(podTemplates(objects).map((t) => t.owner.split('/')[1]));
    const all = new Set(objects.map((o) => `${o.metadata.name}:${o.kind.toLowerCase()}`));
    for (const { args } of only('k8s_resource')) {
      expect(workloads).toContain(args.workload);
      for (const o of args.objects ?? []) expect(all).toContain(o);
      for (const dep of args.resource_deps ?? []) expect(workloads).toContain(dep);
      expect(args.labels?.length).toBeGreaterThan(0);
    }
  });

  test('port-forwards 8080 to the aggregator; the publisher and k6 Jobs are manual resources', () => {
    const res = Object.fromEntries(only('k8s_resource').map((c) => [c.args.workload, c.args]));
    expect(res['logbus-aggregator'].port_forwards).toEqual(['8080:8080']);
    for (const job of ['logbus-aggregator-publisher', 'logbus-aggregator-k6']) {
      expect(objects.some((o) => o.kind === 'Job' && o.metadata.name === job)).toBe(true);
      expect(res[job]).toMatchObject({ trigger_mode: 'manual', auto_init: false, resource_deps: ['logbus-aggregator'] });
    }
  });

  test('the chart path Tilt uses exists', () => {
    expect(existsSync(join(CHART_DIR, 'Chart.yaml'))).toBe(true);
  });
});
