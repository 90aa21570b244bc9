/**
 * `npm run k8s -- publish|load` on a cluster with the operator: the tool creates a PublishRun
 * and follows it to the end (here the API server stand-in, an in-process operator, and the test
 * playing the Job controller and the kubelet); with the CRDs but no operator it fails saying so.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommand } from '../../src/cli.ts';
import { main } from '../../src/main.ts';
import { runSpecOf } from '../../src/operator-runs.ts';
import { type ApiServerStandIn, startApiServerStandIn } from './support/apiserver-standin.ts';
import { type InProcessOperator, startInProcessOperator, waitFor } from './support/operator-harness.ts';

let api: ApiServerStandIn;
const dir = mkdtempSync(join(tmpdir(), 'cli-runs-'));
const logBus = {
  apiVersion: 'logbus.dev/v1alpha1',
  kind: 'LogBus',
  metadata: { name: 'logbus', namespace: 'logbus' },
  spec: { statsIntervalSeconds: 60 },
};

const previousKubeconfig = process.env.KUBECONFIG;
beforeAll(() => {
  api = startApiServerStandIn();
  process.env.KUBECONFIG = api.kubeconfig('cli', dir);
});
afterAll(() => {
  api.stop();
  // Test files share one process: leave the environment as found.
  if (previousKubeconfig === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = previousKubeconfig;
});

test('the command-line settings become the run spec', () => {
  expect(
    runSpecOf(parseCommand(['publish', '--events', '500', '--dup-rate', '0.25', '--seed', '7', '--no-verify', '--image', 'reg/pub:2.0'])),
  ).toEqual({
    logBus: 'logbus',
    events: 500,
    dupRate: '0.25',
    seed: '7',
    verify: false,
    image: 'reg/pub:2.0',
  });
  expect(runSpecOf(parseCommand(['load', '--vus', '5', '--duration', '30s', '--release', 'other']))).toEqual({
    logBus: 'other',
    vus: 5,
    duration: '30s',
  });
});

test('publish through the operator: a PublishRun is created and followed to Finished, the result printed', async () => {
  let op: InProcessOperator | undefined;
  try {
    op = await startInProcessOperator(api.url);
    api.put('logbus.dev/v1alpha1/logbuses', logBus);
    const printed: string[] = [];
    const log = console.log;
    console.log = (s: string) => printed.push(s);
    const exit = main(['publish', '--events', '100', '--timeout', '120']);
    try {
      const job = await waitFor(() => api.objects('batch/v1/jobs').find((j) => j.metadata.name.startsWith('logbus-publish-')), 'the run Job');
      expect(job.spec.template.spec.containers[0].env).toContainEqual({ name: 'PUBLISHER_EVENTS', value: '100' });
      api.put('v1/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p1', namespace: 'logbus', labels: { 'batch.kubernetes.io/job-name': job.metadata.name } },
      });
      api.setPodLog(
        'logbus',
        'p1',
        `${JSON.stringify({ accepted: 100, duplicates_injected: 30, failed: 0, events_per_sec: 500, latency_ms: null, verify: { ok: true, problems: [] } }, null, 2)}\n`,
      );
      api.setStatus('batch/v1/jobs', 'logbus', job.metadata.name, { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] });
      expect(await exit).toBe(0);
    } finally {
      console.log = log;
    }
    const out = JSON.parse(printed.join('\n'));
    expect(out).toMatchObject({ stage: 'Finished', result: { accepted: 100, duplicates: 30, verified: true } });
  } finally {
    await op?.stop();
  }
}, 120_000);

test('with the CRDs and the LogBus but no operator running, the tool fails and says the operator is missing', async () => {
  api.put('logbus.dev/v1alpha1/logbuses', { ...logBus, metadata: { name: 'orphan', namespace: 'logbus' } });
  const errors: string[] = [];
  const error = console.error;
  console.error = (s: string) => errors.push(s);
  try {
    expect(await main(['publish', '--release', 'orphan', '--timeout', '2'])).toBe(1);
  } finally {
    console.error = error;
  }
  expect(errors.join('\n')).toContain('is the logbus operator running?');
}, 60_000);
