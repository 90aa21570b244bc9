/**
 * The ops tool (ops/src): command parsing, the Job built from the chart (validated and
 * policy-checked like the chart itself, and equal to the chart's Job but for name and
 * managed-by), and the whole flow against a fake API server, over HTTP and over mutual TLS
 * (client certificates, as kind's kubeconfig uses).
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHART_DIR, renderChart, REPO_ROOT } from '../src/chart.ts';
import { parseCommand } from '../src/cli.ts';
import { ExitCode, type OpsError } from '../src/error.ts';
import { forRun, MANAGED_BY, renderJob } from '../src/jobs.ts';
import { statsProblems } from '../src/stats.ts';
import { podProblems, selectorProblems } from './support/checks.ts';
import { aggregatorEnvNames, k6EnvNames, publisherEnvNames } from './support/env-names.ts';
import { type FakeApiServer, type FakeOptions, startFakeApiServer } from './support/fake-apiserver.ts';
import { validateAll } from './support/k8s-schema.ts';

const MAIN = join(REPO_ROOT, 'ops/src/main.ts');
const BUN = process.execPath;

describe('command line', () => {
  test('publish flags become chart values', () => {
    const c = parseCommand(['publish', '--events', '20000', '--dup-rate', '0.3', '--seed', '7', '-n', 'demo', '--image', 'reg/pub:v2']);
    expect(c).toMatchObject({ name: 'publish', release: 'logbus', namespace: 'demo', timeoutSeconds: 900 });
    expect(c.set).toEqual(['publisher.events=20000']);
    // A fraction goes through --set-json: --set would keep it the string "0.3".
    expect(c.setJson).toEqual(['publisher.dupRate=0.3']);
    expect(c.keep).toBe(false);
    expect(c.setString).toEqual(['publisher.seed=7', 'publisher.image.repository=reg/pub', 'publisher.image.tag=v2']);
  });

  test('load flags become k6 values; verify takes none of them', () => {
    expect(parseCommand(['load', '--vus', '10', '--duration', '1m']).set).toEqual(['k6.vus=10']);
    expect(parseCommand(['verify']).timeoutSeconds).toBe(30);
    expect(parseCommand(['load', '--dup-rate', '0.25', '--keep'])).toMatchObject({ setJson: ['k6.dupRate=0.25'], keep: true });
    expect(() => parseCommand(['verify', '--keep'])).toThrow(/--keep does not apply to verify/);
  });

  test('usage errors list every problem and use exit code 2', () => {
    const err = (() => {
      try {
        parseCommand(['publish', '--vus', '3', '--events', 'many', '--duration', 'soon']);
      } catch (e) {
        return e as OpsError;
      }
    })()!;
    expect(err.exitCode).toBe(ExitCode.Usage);
    expect(err.message).toContain('--vus does not apply to publish');
    expect(err.message).toContain('--events many');
    expect(err.message).toContain('--duration does not apply to publish');
    expect(() => parseCommand([])).toThrow(/expected one command/);
    expect(() => parseCommand(['deploy'])).toThrow(/expected one command/);
  });
});

describe('stats invariant', () => {
  test('consistent counters pass, a mismatch or a missing counter is named', () => {
    expect(statsProblems({ received: 5, unique_processed: 3, duplicate_dropped: 1, pending: 1 })).toEqual([]);
    expect(statsProblems({ received: 5, unique_processed: 3, duplicate_dropped: 1, pending: 0 })[0]).toContain('received 5 !=');
    expect(statsProblems({ received: 5 })[0]).toContain('lacks');
  });
});

describe("Job builder (renders the chart's Job template)", () => {
  const base = { release: 'logbus', namespace: 'logbus', valuesFiles: [], setString: [], suffix: 't1' };

  test("the publisher Job is the chart's Job, renamed and marked as the tool's", () => {
    const { job, service } = renderJob({ ...base, kind: 'publisher', set: ['publisher.events=1234'] });
    const chartJob = renderChart({ release: 'logbus', namespace: 'logbus', set: ['publisher.enabled=true', 'publisher.events=1234'] }).find(
      (o) => o.kind === 'Job',
    )!;
    expect(job).toEqual(forRun(chartJob, 't1'));
    expect(job.metadata.name).toBe('logbus-aggregator-publisher-t1');
    expect(job.metadata.labels?.['app.kubernetes.io/managed-by']).toBe(MANAGED_BY);
    expect(job.spec.template.spec.containers[0].env).toContainEqual({ name: 'PUBLISHER_EVENTS', value: '1234' });
    expect(service).toEqual({ name: 'logbus-aggregator', portName: 'http' });
  });

  test('its output passes the same schema and policy checks as the chart', () => {
    for (const kind of ['publisher', 'k6'] as const) {
      const r = renderJob({ ...base, kind, set: [] });
      const objects = [r.job, ...(r.configMap ? [r.configMap] : [])];
      expect(validateAll(objects)).toEqual([]);
      expect(podProblems(objects)).toEqual([]);
      // The release's ServiceAccount exists where the Job runs.
      const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'logbus-aggregator' } };
      expect(selectorProblems([...objects, sa])).toEqual([]);
    }
  });

  test("helm accepts what the tool generates: every numeric flag, fractions included, passes the chart's schema", () => {
    const publish = parseCommand([
      'publish',
      '--events',
      '20000',
      '--dup-rate',
      '0.3',
      '--topics',
      '4',
      '--batch',
      '50',
      '--concurrency',
      '8',
      '--rate',
      '1000',
      '--seed',
      '7',
    ]);
    const load = parseCommand(['load', '--vus', '10', '--batch', '50', '--dup-rate', '0.3', '--p95-ms', '250', '--duration', '30s']);
    const env = (kind: 'publisher' | 'k6', cmd: typeof publish) =>
      renderJob({ ...base, kind, set: cmd.set, setString: cmd.setString, setJson: cmd.setJson }).job.spec.template.spec.containers[0].env;
    expect(env('publisher', publish)).toEqual(
      expect.arrayContaining([
        { name: 'PUBLISHER_EVENTS', value: '20000' },
        { name: 'PUBLISHER_DUP_RATE', value: '0.3' },
      ]),
    );
    expect(env('k6', load)).toEqual(
      expect.arrayContaining([
        { name: 'DUP_RATE', value: '0.3' },
        { name: 'VUS', value: '10' },
      ]),
    );
    // The path the tool used before, `--set publisher.dupRate=0.3`, is what the schema rejects.
    expect(() => renderJob({ ...base, kind: 'publisher', set: ['publisher.dupRate=0.3'] })).toThrow(/dupRate/);
  });

  test("the publish/load commands printed in README, docs/DEPLOY.md and the chart's NOTES.txt parse and render", () => {
    const commands: string[] = [];
    for (const file of ['README.md', 'docs/DEPLOY.md', 'charts/aggregator/templates/NOTES.txt']) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8')
        .replaceAll('{{ .Release.Name }}', 'logbus')
        .replaceAll('{{ .Release.Namespace }}', 'logbus');
      const found = [...text.matchAll(/npm run k8s -- ((?:publish|load)\b[^#\n]*)/g)].map((m) => m[1]!.trim());
      expect({ file, found: found.length > 0 }).toEqual({ file, found: true });
      commands.push(...found);
    }
    expect(commands.some((c) => c.includes('--dup-rate 0.3'))).toBe(true);
    for (const line of commands) {
      const cmd = parseCommand(line.split(/\s+/));
      const kind = cmd.name === 'publish' ? 'publisher' : 'k6';
      const r = renderJob({
        ...base,
        kind,
        set: cmd.set,
        setString: cmd.setString,
        setJson: cmd.setJson,
        valuesFiles: cmd.valuesFiles.map((f) => join(REPO_ROOT, f)),
      });
      expect(r.job.kind).toBe('Job');
    }
  });

  test('the k6 Job comes with the script ConfigMap holding k6/load.js', () => {
    const r = renderJob({ ...base, kind: 'k6', set: ['k6.vus=5'] });
    expect(r.configMap!.data['load.js']).toBe(readFileSync(join(REPO_ROOT, 'k6/load.js'), 'utf8'));
    expect(r.job.spec.template.spec.containers[0].env).toContainEqual({ name: 'VUS', value: '5' });
  });

  test('values files of the release apply (kind preset: publisher image tag dev)', () => {
    const r = renderJob({ ...base, kind: 'publisher', set: [], valuesFiles: [join(CHART_DIR, 'ci/kind-values.yaml')] });
    expect(r.job.spec.template.spec.containers[0].image).toBe('logbus-publisher:dev');
  });

  test('every environment variable the Jobs and the Deployment set is one the program reads', () => {
    const objects = renderChart({ set: ['publisher.enabled=true', 'k6.enabled=true'] });
    const env = (component: string) =>
      objects
        .filter((o) => o.spec?.template?.metadata?.labels?.['app.kubernetes.io/component'] === component)[0]!
        .spec.template.spec.containers[0].env.map((e: { name: string }) => e.name);
    for (const n of env('aggregator')) expect(aggregatorEnvNames()).toContain(n);
    for (const n of env('publisher')) expect(publisherEnvNames()).toContain(n);
    for (const n of env('k6')) expect(k6EnvNames()).toContain(n);
  });
});

describe('against a fake API server', () => {
  let fake: FakeApiServer | undefined;
  afterEach(() => fake?.stop());

  const runTool = async (args: string[], o: FakeOptions = {}) => {
    fake = startFakeApiServer(o);
    const proc = Bun.spawn([BUN, MAIN, ...args], { env: { ...process.env, KUBECONFIG: fake.kubeconfig }, stdout: 'pipe', stderr: 'pipe' });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { stdout, stderr, code, fake };
  };

  test("publish: creates the chart's Job in the context namespace, streams its log, checks /stats", async () => {
    const r = await runTool(['publish', '--events', '500']);
    expect(r.stderr).toContain('/stats ok: received 10 = unique 7 + duplicates 3 + pending 0');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('publisher started');
    expect(r.fake.created.jobs).toHaveLength(1);
    const job = r.fake.created.jobs[0];
    expect(job.metadata.namespace).toBe('logbus');
    expect(job.metadata.name).toMatch(/^logbus-aggregator-publisher-[a-z0-9]+$/);
    expect(validateAll([job])).toEqual([]);
    expect(r.fake.requests).toContain('GET /api/v1/namespaces/logbus/services/logbus-aggregator%3Ahttp/proxy/stats');
  }, 90_000);

  test('publish uses the values the Helm release was installed with (kind: image tag dev), flags still win', async () => {
    const helmRelease = { version: 3, config: { publisher: { image: { tag: 'dev' } }, service: { type: 'NodePort', nodePort: 30080 } } };
    const r = await runTool(['publish', '--events', '100'], { helmRelease });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('using the values of Helm release logbus (revision 3)');
    expect(r.fake.created.jobs[0].spec.template.spec.containers[0].image).toBe('logbus-publisher:dev');
    const flagged = await runTool(['publish', '--image', 'reg/pub:v9'], { helmRelease });
    expect(flagged.fake.created.jobs[0].spec.template.spec.containers[0].image).toBe('reg/pub:v9');
    // Positive control: without a release the chart's default image is what renders.
    const none = await runTool(['publish']);
    expect(none.stderr).toContain('no deployed Helm release "logbus" in namespace logbus');
    expect(none.fake.created.jobs[0].spec.template.spec.containers[0].image).toMatch(/^logbus-publisher:(?!dev)/);
  }, 120_000);

  test('load: replaces an existing script ConfigMap, then runs the k6 Job', async () => {
    const r = await runTool(['load', '--vus', '2', '--duration', '5s']);
    expect(r.code).toBe(0);
    expect(r.fake.created.replaced.map((c) => c.metadata.name)).toEqual(['logbus-aggregator-k6-script']);
    expect(r.fake.created.jobs[0].spec.template.spec.containers[0].env).toContainEqual({ name: 'DURATION', value: '5s' });
  }, 90_000);

  test('a failed Job exits 1; it points at `kubectl logs` only when the Job is kept to answer it', async () => {
    const r = await runTool(['publish'], { jobOutcome: 'Failed' });
    expect(r.code).toBe(ExitCode.Failed);
    expect(r.fake.deleted).toHaveLength(1);
    expect(r.stderr).toMatch(/failed \(BackoffLimitExceeded\); its log is above; rerun with --keep/);
    expect(r.stderr).not.toContain('logs job/');
    const kept = await runTool(['publish', '--keep'], { jobOutcome: 'Failed' });
    expect(kept.fake.deleted).toEqual([]);
    expect(kept.stderr).toMatch(/failed \(BackoffLimitExceeded\); logs: kubectl -n logbus logs job\//);
  }, 60_000);

  test("when the Job retries its pod, the newest pod is followed and the retry's summary shown", async () => {
    const r = await runTool(['publish', '--timeout', '120'], {
      pods: [
        { name: 'pod-a', created: '2026-01-01T00:00:00Z', phase: 'Failed', log: ['attempt 1: aggregator unreachable'] },
        { name: 'pod-b', created: '2026-01-01T00:01:00Z', phase: 'Running', log: ['attempt 2: 20,000 accepted'], visibleAfterLogs: 1 },
      ],
      outcomeAfterLogs: 2,
    });
    expect(r.stderr).toContain('following pod pod-b (the Job retried)');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('attempt 1: aggregator unreachable');
    expect(r.stdout).toContain('attempt 2: 20,000 accepted');
  }, 60_000);

  test('--timeout holds while a log is followed: a Job still running is left running and pointed to', async () => {
    const r = await runTool(['publish', '--timeout', '2'], {
      pods: [{ name: 'pod-a', created: '2026-01-01T00:00:00Z', phase: 'Running', log: ['working'], holdLog: true }],
      outcomeAfterLogs: 99,
    });
    expect(r.code).toBe(ExitCode.Failed);
    expect(r.stderr).toMatch(/still running after --timeout 2 s; it was left running: follow it with `kubectl -n logbus logs job\/\S+ -f`/);
    expect(r.fake.deleted).toEqual([]);
  }, 60_000);

  test('at the timeout the Job status decides: a Job that completed while its log stayed open is a success', async () => {
    const r = await runTool(['publish', '--timeout', '2'], {
      pods: [{ name: 'pod-a', created: '2026-01-01T00:00:00Z', phase: 'Running', log: ['done'], holdLog: true }],
    });
    expect(r.stderr).toContain('/stats ok');
    expect(r.code).toBe(0);
    expect(r.fake.deleted).toEqual([]);
  }, 60_000);

  test('a failed Job is deleted with its pods (background propagation); --keep keeps it', async () => {
    const r = await runTool(['publish'], { jobOutcome: 'Failed' });
    expect(r.code).toBe(ExitCode.Failed);
    const name = r.fake.created.jobs[0].metadata.name;
    expect(r.fake.deleted).toEqual([`jobs/${name}?propagationPolicy=Background`]);
    expect(r.stderr).toContain(`deleted Job ${name}`);

    const kept = await runTool(['publish', '--keep'], { jobOutcome: 'Failed' });
    expect(kept.code).toBe(ExitCode.Failed);
    expect(kept.fake.deleted).toEqual([]);
    expect(kept.stderr).toContain('(--keep)');
  }, 60_000);

  test('a failed load deletes the Job and the script ConfigMap it created, never one it replaced', async () => {
    const created = await runTool(['load'], { jobOutcome: 'Failed', configMapAbsent: true });
    expect(created.code).toBe(ExitCode.Failed);
    expect(created.fake.deleted).toEqual([
      `jobs/${created.fake.created.jobs[0].metadata.name}?propagationPolicy=Background`,
      'configmaps/logbus-aggregator-k6-script',
    ]);
    const replaced = await runTool(['load'], { jobOutcome: 'Failed' });
    expect(replaced.fake.deleted).toEqual([`jobs/${replaced.fake.created.jobs[0].metadata.name}?propagationPolicy=Background`]);
  }, 60_000);

  test('pods labelled the pre-1.27 way (controller-uid only) are found and followed', async () => {
    const r = await runTool(['publish'], { podLabels: 'legacy' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('publisher started');
    expect(r.stderr).toContain('following pod job-pod-1');
  }, 90_000);

  test('a Job that finishes while none of its pods is visible ends by its own status, not the timeout', async () => {
    const started = performance.now();
    const ok = await runTool(['publish', '--timeout', '60'], { podLabels: 'none' });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('finished before a pod of it was seen');
    expect(ok.stderr).toContain('/stats ok');
    const failed = await runTool(['publish', '--timeout', '60'], { podLabels: 'none', jobOutcome: 'Failed' });
    expect(failed.code).toBe(ExitCode.Failed);
    expect(failed.fake.deleted).toHaveLength(1);
    // Both runs together well under one timeout (60 s): each returned on the Job's status.
    expect(performance.now() - started).toBeLessThan(30_000);
  }, 60_000);

  test('verify: a /stats that breaks the invariant exits 1 and names the numbers', async () => {
    const r = await runTool(['verify', '--timeout', '0'], { stats: [{ received: 10, unique_processed: 6, duplicate_dropped: 3, pending: 0 }] });
    expect(r.code).toBe(ExitCode.Failed);
    expect(r.stderr.trim()).toBe('k8s: /stats invariant violated: received 10 != unique_processed 6 + duplicate_dropped 3 + pending 0 (= 9)');
  }, 90_000);

  test('verify waits for pending to drain before checking', async () => {
    const r = await runTool(['verify', '--timeout', '10'], {
      stats: [
        { received: 10, unique_processed: 5, duplicate_dropped: 2, pending: 3 },
        { received: 10, unique_processed: 7, duplicate_dropped: 3, pending: 0 },
      ],
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('pending 0');
    expect(r.fake.requests.filter((q) => q.includes('/proxy/stats'))).toHaveLength(2);
  }, 90_000);

  test("verify over mutual TLS with client certificates (as kind's kubeconfig)", async () => {
    const tls = makeCerts();
    const r = await runTool(['verify', '--timeout', '0'], { tls });
    expect(r.stderr).toContain('/stats ok');
    expect(r.code).toBe(0);
  }, 90_000);
});

test('no reachable cluster: one clear line and exit code 3', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-closed-'));
  const kubeconfig = join(dir, 'config');
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n',
  );
  const r = spawnSync(BUN, [MAIN, 'verify'], { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8', timeout: 20_000 });
  expect(r.status).toBe(ExitCode.Cluster);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain('cannot reach the Kubernetes API at https://127.0.0.1:1');
});

test('no kubeconfig: says so and where it looked, instead of asking localhost:8080 (logbus itself)', () => {
  const home = mkdtempSync(join(tmpdir(), 'kube-none-'));
  const env = { ...process.env, HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' };
  const r = spawnSync(BUN, [MAIN, 'verify'], { env, encoding: 'utf8', timeout: 20_000 });
  expect(r.status).toBe(ExitCode.Cluster);
  expect(r.stderr.trim()).toStartWith(`k8s: no kubeconfig: KUBECONFIG is not set and ${join(home, '.kube', 'config')} does not exist`);
  const listed = spawnSync(BUN, [MAIN, 'verify'], { env: { ...env, KUBECONFIG: `${home}/a:${home}/b` }, encoding: 'utf8', timeout: 20_000 });
  expect(listed.stderr).toContain(`KUBECONFIG names ${home}/a, ${home}/b, and none exists`);
  // Positive control: with a kubeconfig in that home the check passes and the API is asked.
  mkdirSync(join(home, '.kube'));
  writeFileSync(
    join(home, '.kube', 'config'),
    'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n',
  );
  const found = spawnSync(BUN, [MAIN, 'verify'], { env, encoding: 'utf8', timeout: 20_000 });
  expect(found.stderr).toContain('cannot reach the Kubernetes API at https://127.0.0.1:1');
});

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (openssl). */
function makeCerts() {
  const dir = mkdtempSync(join(tmpdir(), 'fake-kube-tls-'));
  const sh = (cmd: string) => {
    const r = spawnSync('sh', ['-c', cmd], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  sh('openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=fake-ca 2>/dev/null');
  sh("printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext");
  sh('openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null');
  sh('openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile san.ext 2>/dev/null');
  sh('openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=kubernetes-admin/O=system:masters 2>/dev/null');
  sh('openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1 2>/dev/null');
  const f = (n: string) => readFileSync(join(dir, n), 'utf8');
  return { cert: f('server.crt'), key: f('server.key'), ca: f('ca.crt'), clientCert: f('client.crt'), clientKey: f('client.key') };
}
