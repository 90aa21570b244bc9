/**
 * The informer's list/watch under the operator's runtime: a real Bun process
 * (support/informer-probe.ts) against the API server stand-in, through every way a real API
 * server ends or refuses a watch. Each step counts the list and watch requests the stand-in
 * received, so "resumed" and "relisted" are told apart by what was sent, not by timing.
 * The probe runs with Bun's fetch idle timer at 1 s (BUN_CONFIG_HTTP_IDLE_TIMEOUT; 300 s by
 * default), so a quiet watch shows within seconds whether the informer lifted that timer.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { resolve } from 'node:path';
import { type Subprocess, spawn } from 'bun';
import type { K8sObject } from '../../src/chart.ts';
import { Informer } from '../../src/operator/informer.ts';
import { KubeApi } from '../../src/operator/kube-api.ts';
import { createLogger } from '../../src/operator/log.ts';
import { LOGTOPIC } from '../../src/operator/resources.ts';
import { type ApiServerStandIn, startApiServerStandIn } from './support/apiserver-standin.ts';
import { waitFor } from './support/operator-harness.ts';

const PROBE = resolve(import.meta.dir, 'support/informer-probe.ts');
const LT = 'logbus.dev/v1alpha1/logtopics';
const NS = 'logbus';
const IDLE_ENV = { ...process.env, BUN_CONFIG_HTTP_IDLE_TIMEOUT: '1' };

let api: ApiServerStandIn;
let probe: Subprocess<'ignore', 'pipe', 'inherit'>;
const lines: Record<string, unknown>[] = [];

const topic = (name: string): K8sObject => ({
  apiVersion: 'logbus.dev/v1alpha1',
  kind: 'LogTopic',
  metadata: { name, namespace: NS },
  spec: { logBus: 'logbus', topic: name },
});
const topicRequests = (watch: boolean) =>
  api.requests.filter(
    (r) => r.method === 'GET' && /^\/apis\/logbus\.dev\/v1alpha1\/logtopics(\?|$)/.test(r.path) && r.path.includes('watch=true') === watch,
  ).length;
const lists = () => topicRequests(false);
const watches = () => topicRequests(true);
const seen = (event: string, name: string) => lines.some((l) => l.event === event && l.name === name);
const failures = () => lines.filter((l) => l.msg === 'list/watch failed: retrying');

function collect(proc: Subprocess<'ignore', 'pipe', 'inherit'>, into: Record<string, unknown>[]) {
  void (async () => {
    let buffered = '';
    for await (const chunk of proc.stdout) {
      buffered += new TextDecoder().decode(chunk);
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const p of parts) if (p.trim()) into.push(JSON.parse(p));
    }
  })();
}

beforeAll(async () => {
  api = startApiServerStandIn();
  api.put(LT, topic('a'));
  probe = spawn([process.execPath, PROBE, api.url], { env: IDLE_ENV, stdout: 'pipe', stderr: 'inherit' });
  collect(probe, lines);
  await waitFor(() => seen('changed', 'a'), 'the first list', 60_000);
});

afterAll(async () => {
  if (probe && probe.exitCode === null) {
    probe.kill('SIGTERM');
    await probe.exited;
  }
  api?.stop();
});

test('a watch that stays quiet longer than Bun’s fetch idle timer stays open and delivers the next change', async () => {
  // Positive control, in parallel: the same quiet watch fetched without `timeout: false` dies.
  const control: Record<string, unknown>[] = [];
  const controlProc = spawn([process.execPath, PROBE, api.url, '--control'], { env: IDLE_ENV, stdout: 'pipe', stderr: 'inherit' });
  collect(controlProc, control);
  await controlProc.exited;
  expect(control[0]).toMatchObject({ control: 'failed' });
  expect(String(control[0]!.error)).toContain('TimeoutError');
  // The informer's watch lived through the same quiet time.
  expect(lists()).toBe(1);
  expect(watches()).toBe(1);
  api.put(LT, topic('b'));
  await waitFor(() => seen('changed', 'b'), 'b over the open watch');
  expect(watches()).toBe(1);
  expect(failures()).toEqual([]);
}, 120_000);

test('a watch the server ends is resumed from the last resourceVersion: no relist, nothing missed', async () => {
  api.closeWatches();
  api.put(LT, topic('c')); // while no watch is open
  await waitFor(() => seen('changed', 'c'), 'c after the resumed watch');
  expect(watches()).toBe(2);
  expect(lists()).toBe(1);
  expect(failures()).toEqual([]);
});

test('a bookmark moves the resume point: after a compaction up to it the watch resumes without 410', async () => {
  const cRv = Number(api.get(LT, NS, 'c')!.metadata.resourceVersion);
  api.put('v1/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'elsewhere', namespace: NS } });
  const at = api.resourceVersion;
  // Precondition: the compaction below expires every resourceVersion the informer saw on an object.
  expect(cRv).toBeLessThan(at);
  api.bookmark();
  api.compact(at);
  api.closeWatches(); // after the bookmark on the same stream
  api.put(LT, topic('d'));
  await waitFor(() => seen('changed', 'd'), 'd after resuming from the bookmark');
  expect(lists()).toBe(1);
  expect(lines.filter((l) => l.restart)).toEqual([]);
  const resumed = api.requests.filter((r) => r.path.includes('/logtopics?watch=true')).pop()!;
  expect(resumed.path).toContain(`resourceVersion=${at}&`);
});

test('410 Gone in the watch stream relists and reports what vanished meanwhile as deleted', async () => {
  api.closeWatches();
  api.remove(LT, NS, 'a');
  api.compact();
  await waitFor(() => seen('deleted', 'a'), 'a reported deleted after the relist');
  expect(lists()).toBe(2);
  expect(lines.filter((l) => l.restart)).toEqual([{ restart: 'expired' }]);
  expect(lines.some((l) => l.msg === 'watch expired (410 Gone): relisting')).toBe(true);
  expect(failures()).toEqual([]);
});

test('410 Gone as the watch request’s HTTP status relists too', async () => {
  // The watch opened after the last relist must be older than a second when it is ended below,
  // or its end counts as a very short watch (a failure, tested last).
  await waitFor(
    () =>
      api.requests
        .filter((r) => r.path.includes('/logtopics'))
        .at(-1)
        ?.path.includes('watch=true') === true,
    'the watch after the relist',
  );
  await Bun.sleep(1_100);
  api.failNext('GET', /\/logtopics\?.*watch=true/, 410);
  api.closeWatches();
  await waitFor(() => lists() === 3, 'a third list');
  api.put(LT, topic('e'));
  await waitFor(() => seen('changed', 'e'), 'e after the relist');
  expect(lines.filter((l) => l.restart)).toEqual([{ restart: 'expired' }, { restart: 'expired' }]);
  expect(failures()).toEqual([]);
});

test('SIGTERM ends the informer cleanly', async () => {
  probe.kill('SIGTERM');
  expect(await probe.exited).toBe(0);
  expect(lines.at(-1)).toEqual({ stopped: true });
});

test('every resyncMs the cache is reported again without a request (client-go’s resync), nothing listed anew', async () => {
  const standIn = startApiServerStandIn();
  try {
    standIn.put(LT, topic('steady'));
    const reported: string[] = [];
    const informer = new Informer(
      new KubeApi(standIn.url, (url, init) => fetch(url, init)),
      LOGTOPIC,
      (obj) => reported.push(obj.metadata.name),
      createLogger('error'),
      { resyncMs: 100, watchTimeoutSeconds: 600 },
    );
    const stop = new AbortController();
    const run = informer.run(stop.signal);
    await informer.waitForSync();
    expect(reported).toEqual(['steady']); // positive control: the list reported it once
    await waitFor(() => reported.length >= 4, 'three resyncs');
    stop.abort();
    await run;
    expect(new Set(reported)).toEqual(new Set(['steady']));
    expect(standIn.requests.filter((r) => r.method === 'GET' && !r.path.includes('watch=true'))).toHaveLength(1);
  } finally {
    standIn.stop();
  }
});

test('a watch that ends at once with nothing delivered backs off (client-go’s very short watch) instead of reconnecting in a loop', async () => {
  const standIn = startApiServerStandIn();
  try {
    standIn.put(LT, topic('quiet'));
    const restarts: string[] = [];
    const informer = new Informer(new KubeApi(standIn.url, (url, init) => fetch(url, init)), LOGTOPIC, () => {}, createLogger('error'), {
      resyncMs: 600_000,
      // The stand-in ends a watch after its timeoutSeconds: 0 ends every watch as soon as it opens,
      // as a proxy that cuts streams would.
      watchTimeoutSeconds: 0,
      onRestart: (_, reason) => void restarts.push(reason),
    });
    const stop = new AbortController();
    const run = informer.run(stop.signal);
    await informer.waitForSync();
    const watchRequests = () => standIn.requests.filter((r) => r.method === 'GET' && r.path.includes('watch=true')).length;
    // Positive control: the watch is reopened after it ends (the loop is alive).
    await waitFor(() => watchRequests() >= 2, 'a second watch request');
    await Bun.sleep(2_000);
    stop.abort();
    await run;
    // Backoff of 0.8-1.6 s, then 1.6-3.2 s: at most a few watches in these 2 s. Without it, a
    // request per round trip: thousands.
    expect(watchRequests()).toBeLessThanOrEqual(5);
    expect(restarts.every((r) => r === 'error')).toBe(true);
    expect(standIn.requests.filter((r) => r.method === 'GET' && !r.path.includes('watch=true'))).toHaveLength(1);
  } finally {
    standIn.stop();
  }
}, 60_000);
