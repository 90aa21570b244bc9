/**
 * The controller's list/watch/apply/status flow against the API server stand-in (a real HTTP
 * server, ./support/apiserver-standin.ts) and a real aggregator process on a real PostgreSQL,
 * reached through the stand-in's Service proxy. The stand-in plays the other controllers'
 * parts where a test says so (a Deployment's status, a Job's conditions, a pod's log).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestDatabase, type TestDatabase } from '../../../aggregator/local/postgres.ts';
import { type AggregatorProcess, spawnAggregator } from '../../../aggregator/local/process.ts';
import type { K8sObject } from '../../src/chart.ts';
import { FIELD_MANAGER, TOPIC_FINALIZER } from '../../src/operator/resources.ts';
import { type ApiServerStandIn, startApiServerStandIn } from './support/apiserver-standin.ts';
import { type InProcessOperator, OPERATOR_TOKEN, startInProcessOperator, waitFor } from './support/operator-harness.ts';
import { join } from 'node:path';
import { parseManifests, REPO_ROOT, run } from '../../src/chart.ts';
import { ensureK8sTools } from '../../src/k8s-tools.ts';

const NS = 'logbus';
const LB = 'logbus.dev/v1alpha1/logbuses';
const LT = 'logbus.dev/v1alpha1/logtopics';
const PR = 'logbus.dev/v1alpha1/publishruns';
const DEP = 'apps/v1/deployments';
const STS = 'apps/v1/statefulsets';
const NP = 'networking.k8s.io/v1/networkpolicies';
const JOBS = 'batch/v1/jobs';

let api: ApiServerStandIn;
let db: TestDatabase;
let aggregator: AggregatorProcess;
let op: InProcessOperator;

const logBus = (name: string, spec: Record<string, unknown> = {}): K8sObject => ({
  apiVersion: 'logbus.dev/v1alpha1',
  kind: 'LogBus',
  metadata: { name, namespace: NS },
  spec: { statsIntervalSeconds: 5, ...spec },
});
/** The operator's 'reconcile failed' log lines for one object. */
const failedReconciles = (name: string) => op.logs.filter((l) => l.includes('"msg":"reconcile failed"') && l.includes(`/${name}"`));
const condition = (o: K8sObject | undefined, type: string) => (o?.status?.conditions ?? []).find((c: { type: string }) => c.type === type);

beforeAll(async () => {
  db = await createTestDatabase('operator');
  aggregator = await spawnAggregator({ DATABASE_URL: db.url, RETENTION: '7d', DEDUP_WINDOW: '7d', LOG_LEVEL: 'warn' });
  await aggregator.waitReady(60_000);
  api = startApiServerStandIn();
  api.proxyTo(NS, 'logbus-aggregator', aggregator.url);
  op = await startInProcessOperator(api.url);
}, 120_000);

afterAll(async () => {
  await op?.stop();
  api?.stop();
  aggregator?.kill();
  await aggregator?.exited;
  await db?.drop();
});

describe('LogBus', () => {
  test('its objects are server-side applied by one field manager, owned by it; status goes through /status', async () => {
    api.put(LB, logBus('logbus'));
    const deployment = await waitFor(() => api.get(DEP, NS, 'logbus-aggregator'), 'the Deployment');
    const lb = api.get(LB, NS, 'logbus')!;
    expect(deployment.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'LogBus', name: 'logbus', uid: lb.metadata.uid, controller: true }),
    ]);
    expect(api.get(STS, NS, 'logbus-aggregator-postgresql')).toBeDefined();
    expect(api.get('v1/secrets', NS, 'logbus-aggregator-postgresql')?.data?.password).toBeDefined();
    const writes = api.requests.filter((r) => r.method === 'PATCH' && !r.path.includes('/logtopics/'));
    expect(writes.length).toBeGreaterThan(5);
    for (const w of writes) {
      expect(w.contentType).toBe('application/apply-patch+yaml');
      expect(w.path).toContain(`fieldManager=${FIELD_MANAGER}`);
    }
    // Not ready yet: no Deployment status. Status came through the status subresource only.
    const status = await waitFor(() => condition(api.get(LB, NS, 'logbus'), 'Ready') && api.get(LB, NS, 'logbus')!.status, 'a first status');
    expect(condition({ status } as unknown as K8sObject, 'Ready')).toMatchObject({ status: 'False', observedGeneration: 1 });
    expect(status.observedGeneration).toBe(1);
    expect(
      api.requests.some((r) => r.method === 'PATCH' && r.path.startsWith('/apis/logbus.dev/v1alpha1/namespaces/logbus/logbuses/logbus/status')),
    ).toBe(true);
  });

  test('ready replicas make it Ready with the /stats counters of the real aggregator', async () => {
    const sent = await fetch(`${aggregator.url}/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([{ topic: 'orders', event_id: 'a', timestamp: new Date().toISOString(), source: 't', payload: {} }]),
    });
    expect(sent.status).toBeLessThan(300);
    api.setStatus(STS, NS, 'logbus-aggregator-postgresql', { replicas: 1, readyReplicas: 1 });
    const generation = api.get(DEP, NS, 'logbus-aggregator')!.metadata.generation;
    api.setStatus(DEP, NS, 'logbus-aggregator', {
      observedGeneration: generation,
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
    });
    const lb = await waitFor(() => {
      const o = api.get(LB, NS, 'logbus');
      return condition(o, 'Ready')?.status === 'True' && (o?.status?.stats?.received ?? 0) >= 1 && o;
    }, 'Ready=True with stats');
    expect(lb.status.readyReplicas).toBe(2);
    expect(lb.status.endpoint).toBe('http://logbus-aggregator.logbus.svc:8080');
    expect(lb.status.version).toBe('0.1.0');
    expect(condition(lb, 'DatabaseReady')?.status).toBe('True');
    expect(condition(lb, 'Degraded')?.status).toBe('False');
    expect(lb.status.stats.received).toBe(lb.status.stats.uniqueProcessed + lb.status.stats.duplicateDropped + lb.status.stats.pending);
  });

  test('a spec change moves the generation; the Deployment follows and observedGeneration catches up', async () => {
    const lb = api.get(LB, NS, 'logbus')!;
    api.put(LB, { ...lb, spec: { ...lb.spec, replicas: 3 } });
    await waitFor(() => api.get(DEP, NS, 'logbus-aggregator')?.spec.replicas === 3, 'replicas 3 on the Deployment');
    const after = await waitFor(() => {
      const o = api.get(LB, NS, 'logbus');
      return o?.status?.observedGeneration === 2 && o;
    }, 'observedGeneration 2');
    expect(after.metadata.generation).toBe(2);
    // Rolling out: 2 of 3 updated.
    expect(condition(after, 'Ready')?.status).toBe('False');
    expect(condition(after, 'Progressing')?.status).toBe('True');
  });

  test('a field another manager changes is taken back by the next reconcile (apply with force)', async () => {
    const d = api.get(DEP, NS, 'logbus-aggregator')!;
    api.put(DEP, { ...d, spec: { ...d.spec, replicas: 7 } }, 'kubectl-edit');
    expect(api.get(DEP, NS, 'logbus-aggregator')!.spec.replicas).toBe(7);
    await waitFor(() => api.get(DEP, NS, 'logbus-aggregator')?.spec.replicas === 3, 'replicas back to 3');
  });

  test('turning network policies off prunes them', async () => {
    expect(api.objects(NP).filter((o) => o.metadata.labels?.['app.kubernetes.io/instance'] === 'logbus').length).toBe(6);
    const lb = api.get(LB, NS, 'logbus')!;
    api.put(LB, { ...lb, spec: { ...lb.spec, networkPolicy: { enabled: false } } });
    await waitFor(() => api.objects(NP).filter((o) => o.metadata.labels?.['app.kubernetes.io/instance'] === 'logbus').length === 0, 'no policies');
  });

  test('after a compaction (410 on the watch) and closed watches the informers relist and keep reconciling', async () => {
    const listsBefore = api.requests.filter((r) => r.method === 'GET' && /\/logbuses(\?|$)/.test(r.path) && !r.path.includes('watch=true')).length;
    // A write elsewhere first: every informer's last resourceVersion is then older than the
    // compaction point, as on a busy cluster.
    api.put('v1/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: NS } });
    api.compact();
    api.closeWatches();
    api.failNext('GET', /\/logbuses\?.*watch=true/, 500, 2);
    api.put(LB, logBus('second-aggregator', { replicas: 1 }));
    await waitFor(() => api.get(DEP, NS, 'second-aggregator'), 'the second LogBus reconciled');
    const listsAfter = api.requests.filter((r) => r.method === 'GET' && /\/logbuses(\?|$)/.test(r.path) && !r.path.includes('watch=true')).length;
    expect(listsAfter).toBeGreaterThan(listsBefore);
    expect(op.logs.some((l) => l.includes('watch expired (410 Gone): relisting'))).toBe(true);
    // Both kinds of restart are counted: the relists and the two failed logbuses watches.
    const restarts = (reason: string) =>
      [...op.metrics.watchRestarts.values.values()].filter((c) => c.labels.reason === reason).reduce((sum, c) => sum + c.value, 0);
    expect(restarts('expired')).toBeGreaterThanOrEqual(1);
    expect(op.metrics.watchRestarts.get({ resource: 'logbuses', reason: 'error' })).toBe(2);
    expect(op.metrics.render()).toMatch(/logbus_operator_watch_restarts_total\{resource="logbuses",reason="error"\} 2/);
  });

  test('a failed apply (500) is counted, retried with backoff, and the reconcile then succeeds; metrics show it', async () => {
    const errorsBefore = op.metrics.errors.get({ controller: 'logbus' });
    api.failNext('PATCH', /\/deployments\/third-aggregator\?/, 500, 2);
    api.put(LB, logBus('third-aggregator', { replicas: 1 }));
    await waitFor(() => api.get(DEP, NS, 'third-aggregator'), 'the Deployment after the retries');
    expect(op.metrics.errors.get({ controller: 'logbus' })).toBe(errorsBefore + 2);
    expect(op.logs.some((l) => l.includes('"msg":"reconcile failed"') && l.includes('third-aggregator'))).toBe(true);
    const text = op.metrics.render();
    expect(text).toMatch(/logbus_operator_reconcile_total\{controller="logbus",result="requeue"\} [1-9]/);
    expect(text).toMatch(/logbus_operator_reconcile_errors_total\{controller="logbus"\} [1-9]/);
    expect(text).toMatch(/logbus_operator_reconcile_duration_seconds_count\{controller="logbus"\} [1-9]/);
    expect(text).toContain('logbus_operator_workqueue_depth{controller="logbus"}');
    api.remove(LB, NS, 'third-aggregator');
  });

  test('an object the API server refuses (422 Invalid) puts the reason in the status, is not retried hot, and recovers with the spec', async () => {
    api.failNext('PATCH', /\/statefulsets\/refused-aggregator-postgresql\?/, 422, 1_000_000);
    api.put(LB, logBus('refused-aggregator', { replicas: 1 }));
    const refused = await waitFor(() => {
      const o = api.get(LB, NS, 'refused-aggregator');
      return condition(o, 'Degraded')?.reason === 'InvalidSpec' && o;
    }, 'Degraded InvalidSpec');
    expect(condition(refused, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', observedGeneration: 1 });
    expect(condition(refused, 'Degraded')).toMatchObject({ status: 'True' });
    expect(condition(refused, 'Degraded').message).toContain('HTTP 422 Invalid');
    expect(refused.status.observedGeneration).toBe(1);
    expect(failedReconciles('refused-aggregator')).toEqual([]);
    // The spec is fixed (here: the stand-in stops refusing, and the spec changes): it recovers.
    api.clearFailures();
    api.put(LB, { ...refused, spec: { ...refused.spec, replicas: 2 } });
    await waitFor(() => api.get(STS, NS, 'refused-aggregator-postgresql'), 'the StatefulSet after the fix');
    await waitFor(() => condition(api.get(LB, NS, 'refused-aggregator'), 'Degraded')?.reason !== 'InvalidSpec', 'InvalidSpec cleared');
    api.remove(LB, NS, 'refused-aggregator');
  });

  test('a LogBus deleted between its read and its status write (404 on /status) is not a failure', async () => {
    const statusWrites = () => api.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/logbuses/vanishing/status')).length;
    api.failNext('PATCH', /\/logbuses\/vanishing\/status\?/, 404, 1);
    api.put(LB, logBus('vanishing', { replicas: 1 }));
    await waitFor(() => statusWrites() >= 2, 'the status written after the 404');
    expect(failedReconciles('vanishing')).toEqual([]);
    api.remove(LB, NS, 'vanishing');
  });

  test('deleting a LogBus cascades to everything it owns', async () => {
    api.remove(LB, NS, 'second-aggregator');
    expect(api.get(DEP, NS, 'second-aggregator')).toBeUndefined();
    expect(api.objects('v1/services').some((s) => s.metadata.name === 'second-aggregator')).toBe(false);
  });
});

describe('LogTopic', () => {
  const putTopic = (name: string, spec: { topic: string; retention: string }) =>
    api.put(LT, { apiVersion: 'logbus.dev/v1alpha1', kind: 'LogTopic', metadata: { name, namespace: NS }, spec: { logBus: 'logbus', ...spec } });
  /** The LogTopic once its Ready condition has `status`. */
  const readyIs = (name: string, status: 'True' | 'False') =>
    waitFor(() => {
      const o = api.get(LT, NS, name);
      return condition(o, 'Ready')?.status === status && o;
    }, `LogTopic ${name} Ready=${status}`);
  const topics = async () =>
    ((await (await fetch(`${aggregator.url}/topics`)).json()) as { topics: { topic: string; retention_override: string | null }[] }).topics;

  test('its retention reaches the aggregator (PUT /topics) and its status carries the storage', async () => {
    putTopic('orders', { topic: 'orders', retention: '3d' });
    const t = await readyIs('orders', 'True');
    expect(t.metadata.finalizers).toContain(TOPIC_FINALIZER);
    expect(t.status).toMatchObject({ retention: '3d', stored: 1, expired: 0 });
    expect(t.status.bytes).toBeGreaterThan(0);
    expect((await topics()).find((x) => x.topic === 'orders')?.retention_override).toBe('3d');
  });

  test('a retention the aggregator refuses (beyond DEDUP_WINDOW) is reported, not retried hot', async () => {
    putTopic('too-long', { topic: 'audit', retention: '30d' });
    const t = await readyIs('too-long', 'False');
    expect(condition(t, 'Ready')).toMatchObject({ reason: 'Rejected' });
    expect(condition(t, 'Ready').message).toContain('DEDUP_WINDOW');
  });

  test('deleting it returns the topic to the default retention, then the finalizer goes', async () => {
    api.remove(LT, NS, 'orders');
    expect(api.get(LT, NS, 'orders')?.metadata.deletionTimestamp).toBeDefined();
    await waitFor(() => api.get(LT, NS, 'orders') === undefined, 'the LogTopic gone');
    expect((await topics()).find((x) => x.topic === 'orders')?.retention_override ?? null).toBeNull();
  });

  test('a 409 on the finalizer patch (written meanwhile) is redone, counted as a conflict, not an error', async () => {
    const errorsBefore = op.metrics.errors.get({ controller: 'logtopic' });
    const conflictsBefore = op.metrics.reconciles.get({ controller: 'logtopic', result: 'conflict' });
    api.failNext('PATCH', /\/logtopics\/contended$/, 409, 1);
    putTopic('contended', { topic: 'contended', retention: '2d' });
    const t = await readyIs('contended', 'True');
    expect(t.metadata.finalizers).toContain(TOPIC_FINALIZER);
    expect(op.metrics.reconciles.get({ controller: 'logtopic', result: 'conflict' })).toBe(conflictsBefore + 1);
    expect(op.metrics.errors.get({ controller: 'logtopic' })).toBe(errorsBefore);
    expect(failedReconciles('contended')).toEqual([]);
    expect(op.logs.some((l) => l.includes('"msg":"conflict: requeued"') && l.includes('contended'))).toBe(true);
  });

  test('the stand-in refuses what the API server refuses: a schema violation is 422, nothing stored', async () => {
    const res = await fetch(`${api.url}/apis/logbus.dev/v1alpha1/namespaces/${NS}/logtopics`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'logbus.dev/v1alpha1',
        kind: 'LogTopic',
        metadata: { name: 'bad' },
        spec: { logBus: 'logbus', topic: 'x', retention: 'forever' },
      }),
    });
    expect(res.status).toBe(422);
    expect(api.get(LT, NS, 'bad')).toBeUndefined();
  });
});

describe('LoadTest', () => {
  test('creates its script ConfigMap and k6 Job, both owned by it, and reports Created', async () => {
    api.put('logbus.dev/v1alpha1/loadtests', {
      apiVersion: 'logbus.dev/v1alpha1',
      kind: 'LoadTest',
      metadata: { name: 'burst', namespace: NS },
      spec: { logBus: 'logbus', vus: 5, duration: '5s' },
    });
    const job = await waitFor(() => api.get(JOBS, NS, 'burst-k6'), 'the k6 Job');
    const script = api.objects('v1/configmaps').find((c) => c.metadata.name === 'burst-k6-script')!;
    expect(script.data['load.js']).toBe('// k6 script');
    for (const o of [job, script])
      expect((o.metadata.ownerReferences as unknown[])[0]).toMatchObject({ kind: 'LoadTest', name: 'burst', controller: true });
    await waitFor(() => api.get('logbus.dev/v1alpha1/loadtests', NS, 'burst')?.status?.stage === 'Created', 'stage Created');
  });
});

describe('PublishRun', () => {
  test('creates an owned Job; the stage moves Created -> Started -> Finished with the result from the pod log, and never back', async () => {
    api.put(PR, {
      apiVersion: 'logbus.dev/v1alpha1',
      kind: 'PublishRun',
      metadata: { name: 'smoke', namespace: NS },
      spec: { logBus: 'logbus', events: 200 },
    });
    const job = await waitFor(() => api.get(JOBS, NS, 'smoke-publisher'), 'the Job');
    expect((job.metadata.ownerReferences as unknown[])[0]).toMatchObject({ kind: 'PublishRun', name: 'smoke', controller: true });
    expect(job.spec.template.metadata.labels['logbus-aggregator-client']).toBe('true');
    await waitFor(() => api.get(PR, NS, 'smoke')?.status?.stage === 'Created', 'stage Created');
    api.setStatus(JOBS, NS, 'smoke-publisher', { active: 1, startTime: new Date().toISOString() });
    await waitFor(() => api.get(PR, NS, 'smoke')?.status?.stage === 'Started', 'stage Started');
    api.put('v1/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'smoke-publisher-x1', namespace: NS, labels: { 'batch.kubernetes.io/job-name': 'smoke-publisher' } },
    });
    const summary = {
      ok: true,
      accepted: 200,
      duplicates_injected: 60,
      failed: 0,
      events_per_sec: 950.5,
      latency_ms: { p50: 3.1, p95: 7.2, p99: 9.9, max: 12 },
      verify: { ok: true, problems: [] },
    };
    api.setPodLog(NS, 'smoke-publisher-x1', `publishing 200 events\n${JSON.stringify(summary, null, 2)}\n`);
    api.setStatus(JOBS, NS, 'smoke-publisher', {
      succeeded: 1,
      completionTime: new Date().toISOString(),
      conditions: [{ type: 'Complete', status: 'True' }],
    });
    const run = await waitFor(() => {
      const o = api.get(PR, NS, 'smoke');
      return o?.status?.stage === 'Finished' && o;
    }, 'stage Finished');
    expect(run.status.result).toEqual({
      accepted: 200,
      duplicates: 60,
      failures: 0,
      throughput: '950.5',
      latencyMs: { p50: '3.1', p95: '7.2', p99: '9.9' },
      verified: true,
    });
    // The Job controller now reporting a failure (it cannot, but a stray write could) changes nothing.
    api.setStatus(JOBS, NS, 'smoke-publisher', { failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] });
    await Bun.sleep(300);
    expect(api.get(PR, NS, 'smoke')!.status.stage).toBe('Finished');
  });

  test('a Job the API server refuses (422 Invalid) ends the run in Error with the reason', async () => {
    api.failNext('PATCH', /\/jobs\/refused-publisher\?/, 422, 1);
    api.put(PR, {
      apiVersion: 'logbus.dev/v1alpha1',
      kind: 'PublishRun',
      metadata: { name: 'refused', namespace: NS },
      spec: { logBus: 'logbus', events: 10 },
    });
    const run = await waitFor(() => {
      const o = api.get(PR, NS, 'refused');
      return o?.status?.stage === 'Error' && o;
    }, 'stage Error');
    expect(condition(run, 'Succeeded')).toMatchObject({ status: 'False', reason: 'JobFailed' });
    expect(condition(run, 'Succeeded').message).toContain('refused');
    expect(api.get(JOBS, NS, 'refused-publisher')).toBeUndefined();
  });
});

test('RBAC: every request the operator made above is allowed by the chart’s ClusterRole (least privilege covers it)', () => {
  const role = parseManifests(
    run(ensureK8sTools().helm, ['template', 'logbus', join(REPO_ROOT, 'charts/logbus-operator'), '--show-only', 'templates/rbac.yaml']),
  ).find((o) => o.kind === 'ClusterRole')!;
  const rules = role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  const made = new Set<string>();
  for (const r of api.requests.filter((x) => x.token === OPERATOR_TOKEN)) {
    const url = new URL(r.path, 'http://x');
    // The Service proxy is the test's access mode (AGGREGATOR_ACCESS=proxy); the chart runs direct.
    if (url.pathname.includes('/proxy/')) continue;
    const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/[^/]+)?\/([^/]+)(?:\/([^/]+))?(?:\/(status|log))?$/.exec(url.pathname)!;
    const [group, plural, name, sub] = [m[1] ?? '', m[2], m[3], m[4]];
    const verb =
      r.method === 'GET'
        ? url.searchParams.get('watch') === 'true'
          ? 'watch'
          : name
            ? 'get'
            : 'list'
        : { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[r.method]!;
    made.add(`${group}|${sub ? `${plural}/${sub}` : plural}|${verb}`);
  }
  // Positive control: the flow above exercised applies, status, finalizers, watches and pod logs.
  for (const needed of [
    'apps|deployments|patch',
    'logbus.dev|logbuses/status|patch',
    'logbus.dev|logtopics|patch',
    'batch|jobs|watch',
    '|pods/log|get',
    '|secrets|create',
    '|configmaps|patch',
    'logbus.dev|loadtests/status|patch',
  ])
    expect(made).toContain(needed);
  const denied = [...made].filter((x) => {
    const [group, resource, verb] = x.split('|') as [string, string, string];
    return !rules.some((rule) => rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb));
  });
  expect(denied).toEqual([]);

  // And no wider: every grant was used above, or is `create` for a kind it applies (the API server
  // also checks create when an apply creates the object), or is one of these, each for a path
  // this flow does not take.
  const elsewhere = new Set([
    // The admin token of a LogBus with auth (aggregator-client.ts); this flow runs without auth.
    '|secrets|get',
    // prune() deletes an owned PDB the spec no longer asks for, as it deletes the policies above.
    'policy|poddisruptionbudgets|delete',
  ]);
  const granted = rules.flatMap((rule) => rule.apiGroups.flatMap((g) => rule.resources.flatMap((r) => rule.verbs.map((v) => `${g}|${r}|${v}`))));
  const unused = granted.filter((x) => {
    const [group, resource, verb] = x.split('|') as [string, string, string];
    const createdByApply = verb === 'create' && made.has(`${group}|${resource}|patch`) && !resource.includes('/');
    return !made.has(x) && !createdByApply && !elsewhere.has(x);
  });
  expect(unused).toEqual([]);
});
