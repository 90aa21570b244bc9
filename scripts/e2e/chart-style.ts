/** The aggregator run the way the chart runs it, everything read from `helm template`. */
import { renderChart } from '../../ops/src/chart';
import { AGGREGATOR_IMAGE, CHART_CONTAINER, PROJECT, docker, lastLines, must, run } from './shell';
import { httpStatus } from './stack';
import { check, waitUntil } from './steps';

interface Probe {
  httpGet: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}

export async function chartStyle(): Promise<string> {
  const objects = renderChart({ release: 'logbus', namespace: 'logbus' });
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.spec.template.metadata.labels['app.kubernetes.io/component'] === 'aggregator')!;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const sc = { ...(pod.securityContext ?? {}), ...(container.securityContext ?? {}) };
  check(
    sc.readOnlyRootFilesystem === true && sc.runAsNonRoot === true && sc.capabilities?.drop?.includes('ALL'),
    'the chart no longer sets read-only root / non-root / drop ALL',
  );
  const args = ['--name', CHART_CONTAINER, '--read-only', '--user', `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}`, '--cap-drop', 'ALL'];
  if (sc.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges:true');
  // emptyDir volumes become tmpfs mounts (an emptyDir is world-writable, like mode 1777).
  const emptyDirs = new Map<string, { sizeLimit?: string }>(
    pod.volumes
      .filter((v: { emptyDir?: unknown }) => v.emptyDir)
      .map((v: { name: string; emptyDir: { sizeLimit?: string } }) => [v.name, v.emptyDir]),
  );
  const tmpfs: string[] = [];
  for (const m of container.volumeMounts ?? []) {
    const ed = emptyDirs.get(m.name);
    if (!ed) continue;
    const size = ed.sizeLimit ? `,size=${ed.sizeLimit.replace(/Mi$/, 'm').replace(/Gi$/, 'g')}` : '';
    args.push('--tmpfs', `${m.mountPath}:rw,mode=1777${size}`);
    tmpfs.push(m.mountPath);
  }
  const limits = container.resources?.limits ?? {};
  if (limits.memory) args.push('--memory', String(limits.memory).replace(/Mi$/, 'm').replace(/Gi$/, 'g'));
  if (limits.cpu) args.push('--cpus', String(limits.cpu));
  // The chart's env; DATABASE_URL comes from its Secret there and from compose's PostgreSQL here.
  const password = process.env.POSTGRES_PASSWORD ?? 'logbus-dev-only-change-me';
  const env: Record<string, string> = {};
  for (const e of container.env) env[e.name] = e.value ?? '';
  env.DATABASE_URL = `postgres://logbus:${password}@postgres:5432/logbus`;
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  const port = container.ports.find((p: { name: string }) => p.name === 'http').containerPort;
  args.push('--network', `${PROJECT}_edge`, '-p', `127.0.0.1::${port}`, AGGREGATOR_IMAGE);
  if (container.command) throw new Error('the chart sets a command: mirror it here');
  if (container.args) args.push(...container.args);
  await run(docker('rm', '-f', CHART_CONTAINER));
  await must(docker('create', ...args));
  // The compose network with PostgreSQL is internal (no published ports): join it as well.
  await must(docker('network', 'connect', `${PROJECT}_internal`, CHART_CONTAINER));
  await must(docker('start', CHART_CONTAINER));
  const hostPort = (await must(docker('port', CHART_CONTAINER, `${port}/tcp`))).trim().split(':').pop();
  const base = `http://127.0.0.1:${hostPort}`;

  const probe = (p: Probe) => `${base}${p.httpGet.path}`;
  const startup: Probe = container.startupProbe;
  const budget = Math.min(180, (startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)) * 1000;
  const t0 = performance.now();
  await waitUntil(`startupProbe ${startup.httpGet.path}`, budget, async () => (await httpStatus(probe(startup))) === 200);
  const startedIn = (performance.now() - t0) / 1000;
  for (const p of [container.readinessProbe, container.livenessProbe] as Probe[]) {
    const status = await httpStatus(probe(p));
    check(status === 200, `probe ${p.httpGet.path} answered ${status}`);
  }
  const event = { topic: 'e2e.chart', event_id: `chart-${Date.now()}`, timestamp: new Date().toISOString(), source: 'e2e', payload: { ok: true } };
  const published = await httpStatus(`${base}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([event]),
  });
  check(published === 202, `POST /publish answered ${published}`);
  // A body past WORKER_MIN_BYTES (256 KiB) is decoded in a worker thread (ingest/decode-pool.ts):
  // the worker's module must load in this image, read-only root and all.
  const large = Array.from({ length: 600 }, (_, i) => ({ ...event, event_id: `chart-large-${Date.now()}-${i}`, payload: { pad: 'x'.repeat(1024) } }));
  const largeBody = JSON.stringify(large);
  const publishedLarge = await httpStatus(`${base}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: largeBody });
  check(publishedLarge === 202, `POST /publish of ${largeBody.length} bytes (a worker-thread decode) answered ${publishedLarge}`);

  const inspect = JSON.parse(await must(docker('inspect', CHART_CONTAINER)))[0];
  check(inspect.HostConfig.ReadonlyRootfs === true, 'root filesystem not read-only');
  check(JSON.stringify(inspect.HostConfig.CapDrop) === '["ALL"]', `CapDrop ${JSON.stringify(inspect.HostConfig.CapDrop)}`);
  const write = (path: string) =>
    run(docker('exec', CHART_CONTAINER, 'bun', '-e', `require('fs').writeFileSync(${JSON.stringify(path)}, 'x')`), { timeoutMs: 30_000 });
  check((await write('/app/aggregator/e2e-probe')).code !== 0, 'could write to the root filesystem');
  for (const dir of tmpfs) check((await write(`${dir}/e2e-probe`)).code === 0, `cannot write to ${dir} (the chart's emptyDir)`);
  const uid = (await must(docker('exec', CHART_CONTAINER, 'bun', '-e', 'console.log(process.getuid()+":"+process.getgid())'))).trim();
  check(uid === `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}`, `runs as ${uid}`);

  const grace = deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  const s0 = performance.now();
  await must(docker('stop', '-t', String(grace), CHART_CONTAINER), (grace + 30) * 1000);
  const stopSeconds = (performance.now() - s0) / 1000;
  const exit = (await must(docker('inspect', '-f', '{{.State.ExitCode}}', CHART_CONTAINER))).trim();
  const logs = await run(docker('logs', CHART_CONTAINER));
  check(exit === '0', `exit code ${exit} after SIGTERM: ${lastLines(logs.stdout + logs.stderr, 3)}`);
  check(/drained; exiting/.test(logs.stdout + logs.stderr), 'no "drained; exiting" line after SIGTERM');
  await run(docker('rm', '-f', CHART_CONTAINER));
  return `uid ${uid}, read-only root, cap-drop ALL, tmpfs ${tmpfs.join(',')}, ${Object.keys(env).length} chart env vars; startupProbe 200 after ${startedIn.toFixed(1)} s, readiness and liveness 200, POST /publish 202 (also ${(largeBody.length / 1024).toFixed(0)} KiB, decoded in a worker thread), root not writable, SIGTERM drained and exited 0 in ${stopSeconds.toFixed(1)} s`;
}
