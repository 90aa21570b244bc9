/**
 * Leader election with two real operator processes (`bun ops/src/operator/main.ts`) sharing one
 * Lease on the API server stand-in: only the holder writes; when it is SIGKILLed the other takes
 * the Lease, never before the Lease expired, and reconciles from then on; SIGTERM releases the
 * Lease and exits 0. Each process authenticates with its own token, so the stand-in's request
 * log tells which one wrote.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Subprocess, spawn } from 'bun';
import type { K8sObject } from '../../src/chart.ts';
import { KubeApi } from '../../src/operator/kube-api.ts';
import { LeaderElector } from '../../src/operator/leader.ts';
import { createLogger } from '../../src/operator/log.ts';
import { type ApiServerStandIn, startApiServerStandIn } from './support/apiserver-standin.ts';
import { waitFor } from './support/operator-harness.ts';

const MAIN = resolve(import.meta.dir, '../../src/operator/main.ts');
const LEASE = 'coordination.k8s.io/v1/leases';
const LEASE_SECONDS = 3;
let api: ApiServerStandIn;
const procs: Subprocess[] = [];
const output: Record<string, string> = {};

function startOperator(identity: string): Subprocess {
  const dir = mkdtempSync(join(tmpdir(), 'operator-'));
  const proc = spawn([process.execPath, MAIN], {
    env: {
      ...process.env,
      KUBECONFIG: api.kubeconfig(identity, dir),
      POD_NAME: identity,
      LEASE_NAMESPACE: 'logbus',
      LEASE_DURATION_SECONDS: String(LEASE_SECONDS),
      RENEW_DEADLINE_SECONDS: '2',
      RETRY_PERIOD_SECONDS: '0.5',
      METRICS_PORT: '0',
      AGGREGATOR_ACCESS: 'proxy',
      LOG_LEVEL: 'debug',
    },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  output[identity] = '';
  for (const stream of [proc.stdout, proc.stderr])
    void (async () => {
      for await (const chunk of stream) output[identity] += new TextDecoder().decode(chunk);
    })();
  procs.push(proc);
  return proc;
}

const holder = () => api.get(LEASE, 'logbus', 'logbus-operator')?.spec?.holderIdentity;
/** Writes to anything but the Lease, by the process holding `token`. */
const writesBy = (token: string) => api.requests.filter((r) => r.token === token && r.method !== 'GET' && !r.path.includes('/leases'));
const logBus = (replicas: number): K8sObject => ({
  apiVersion: 'logbus.dev/v1alpha1',
  kind: 'LogBus',
  metadata: { name: 'logbus', namespace: 'logbus' },
  spec: { replicas, statsIntervalSeconds: 60 },
});

beforeAll(() => {
  api = startApiServerStandIn();
});

afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  api.stop();
});

test('one of two operators leads and reconciles; the other takes over after the leader is killed, never before the Lease expired', async () => {
  const a = startOperator('op-a');
  await waitFor(() => holder() === 'op-a', 'op-a to lead', 60_000);
  const b = startOperator('op-b');
  // b is up (its informers listed) and campaigning.
  await waitFor(() => api.requests.some((r) => r.token === 'op-b' && r.path.includes('/leases/logbus-operator')), 'op-b to read the Lease', 60_000);

  api.put('logbus.dev/v1alpha1/logbuses', logBus(2));
  await waitFor(() => api.get('apps/v1/deployments', 'logbus', 'logbus-aggregator')?.spec.replicas === 2, 'the leader to reconcile', 60_000);
  expect(writesBy('op-a').length).toBeGreaterThan(5);
  expect(writesBy('op-b')).toEqual([]);
  expect(holder()).toBe('op-a');
  // Each process serves /metrics; only the leader reports leading.
  const metricsOf = async (id: string) => {
    const port = /"metricsPort":(\d+)/.exec(output[id] ?? '')![1];
    return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  };
  expect(await metricsOf('op-a')).toMatch(/^logbus_operator_leader 1$/m);
  expect(await metricsOf('op-b')).not.toMatch(/^logbus_operator_leader 1$/m);

  a.kill('SIGKILL');
  await a.exited;
  const killedAt = Date.now();
  const lastRenewByA = Date.parse(api.get(LEASE, 'logbus', 'logbus-operator')!.spec.renewTime);
  await waitFor(() => holder() === 'op-b', 'op-b to take the Lease', 60_000);
  const lease = api.get(LEASE, 'logbus', 'logbus-operator')!;
  const takenAt = Date.parse(lease.spec.acquireTime);
  // Safety: the Lease changed hands only after it had expired (renewTime + leaseDuration).
  expect(takenAt - lastRenewByA).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000);
  expect(lease.spec.leaseTransitions).toBe(1);
  console.log(`takeover: ${takenAt - lastRenewByA} ms after op-a's last renewal, ${takenAt - killedAt} ms after the kill (lease ${LEASE_SECONDS} s)`);

  // The new leader reconciles.
  api.put('logbus.dev/v1alpha1/logbuses', { ...api.get('logbus.dev/v1alpha1/logbuses', 'logbus', 'logbus')!, spec: logBus(4).spec });
  await waitFor(() => api.get('apps/v1/deployments', 'logbus', 'logbus-aggregator')?.spec.replicas === 4, 'op-b to reconcile', 60_000);
  expect(writesBy('op-b').length).toBeGreaterThan(0);

  // SIGTERM: stops, releases the Lease, exits 0.
  b.kill('SIGTERM');
  expect(await b.exited).toBe(0);
  expect(holder() ?? null).toBeNull();
  expect(output['op-b']).toContain('"msg":"released the Lease"');
}, 180_000);

test('SIGTERM while the API server is unreachable (caches never synced) still exits 0 promptly', async () => {
  const dead = startApiServerStandIn();
  const url = dead.url;
  const dir = mkdtempSync(join(tmpdir(), 'operator-'));
  const kubeconfig = dead.kubeconfig('op-c', dir);
  dead.stop();
  const proc = spawn([process.execPath, MAIN], {
    env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: 'op-c', METRICS_PORT: '0', LOG_LEVEL: 'info' },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  procs.push(proc);
  let out = '';
  void (async () => {
    for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => out.includes('list/watch failed: retrying'), `a failed list against ${url}`, 60_000);
  proc.kill('SIGTERM');
  expect(await proc.exited).toBe(0);
  expect(out).toContain('"msg":"stopped"');
}, 120_000);

test('two candidates racing for a free Lease: the resourceVersion decides, the later write gets 409 and does not lead', async () => {
  const standIn = startApiServerStandIn();
  try {
    standIn.put(LEASE, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'race', namespace: 'logbus' }, spec: {} });
    const config = { namespace: 'logbus', name: 'race', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
    const log = createLogger('error');
    const a = new LeaderElector(new KubeApi(standIn.url, (url, init) => fetch(url, init)), { ...config, identity: 'a' }, log);
    const putStatuses: number[] = [];
    // b reads the free Lease, then a acquires it in full before b's write goes out.
    const b = new LeaderElector(
      new KubeApi(standIn.url, async (url, init) => {
        if (init?.method !== 'PUT') return fetch(url, init);
        expect(await a.tryAcquireOrRenew()).toBe(true);
        const res = await fetch(url, init);
        putStatuses.push(res.status);
        return res;
      }),
      { ...config, identity: 'b' },
      log,
    );
    expect(await b.tryAcquireOrRenew()).toBe(false);
    expect(putStatuses).toEqual([409]);
    const lease = standIn.get(LEASE, 'logbus', 'race')!;
    expect(lease.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 1 });
  } finally {
    standIn.stop();
  }
});
