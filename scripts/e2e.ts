#!/usr/bin/env bun
/**
 * `npm run e2e`: the deployment run for real on a Docker engine. `.ci/run` calls it after
 * `npm test`. Steps (each passes or fails on its own; a closing line `e2e: N passed, N failed`):
 *
 *   base images     pulled, or local stand-ins built by ../shared/offline-images/build-standins.sh
 *                   when the registry is out of reach (see that folder's README)
 *   build           both images with BuildKit (no `# syntax=` line: no frontend image to fetch)
 *   pruned          the aggregator's node_modules holds no type-only/unused package
 *   no DATABASE_URL the aggregator image says in one line that it needs DATABASE_URL, exit != 0
 *   compose up      `docker-compose config` (v1 here; the file is Compose-spec valid for v2), then
 *                   PostgreSQL, 2 replicas and the proxy healthy
 *   chart-style     the aggregator as the chart runs it (read-only root, numeric non-root user,
 *                   all capabilities dropped, tmpfs at the chart's emptyDir mounts, the chart's env
 *                   and probes, all read from `helm template`): probes pass, it serves, only /tmp
 *                   is writable, SIGTERM drains and exits 0
 *   publish         POST /publish through the proxy, then the publisher image with --verify
 *   publisher stop  SIGTERM/SIGINT end the publisher through tini (143/130, never 139)
 *   replica stop    a replica stopped under load: no client-visible error, no request over ~1 s,
 *                   every acknowledged event processed exactly once
 *   postgres restart  PostgreSQL restarted in place comes back healthy (socket tmpfs owned by 999)
 *                   and the replicas serve again
 *   teardown        `docker-compose down -v`: nothing of the project left
 *
 * The engine: E2E_DOCKER_HOST if set; else its own dockerd on unix:///run/logbus-e2e.sock (it
 * never starts one on the default socket, which test runs would detect; one already serving it is
 * used), installing Debian's docker.io and docker-compose when absent and stopping the dockerd it
 * started at the end, also on SIGINT/SIGTERM. No engine: a printed reason
 * and exit 0. Env: E2E_DOCKER_HOST, E2E_DOCKER_DATA_ROOT, OFFLINE_IMAGES_DIR, E2E_STANDINS_DIR.
 */
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { renderChart } from '../ops/src/chart';

const REPO = resolve(import.meta.dir, '..');
const PROJECT = 'logbus-e2e';
const OWN_SOCKET = '/run/logbus-e2e.sock';
const DATA_ROOT = process.env.E2E_DOCKER_DATA_ROOT ?? '/var/lib/logbus-e2e-docker';
const STANDINS_DIR = process.env.E2E_STANDINS_DIR ?? '/var/tmp/logbus-e2e-standins';
const DOCKERD_LOG = '/tmp/logbus-e2e-dockerd.log';
const AGGREGATOR_IMAGE = 'logbus-aggregator:dev';
const PUBLISHER_IMAGE = 'logbus-publisher:dev';
const OPERATOR_IMAGE = 'logbus-operator:dev';
const CHART_CONTAINER = `${PROJECT}-chart-style`;

const started = performance.now();
const results: { name: string; ok: boolean; seconds: number; detail: string }[] = [];
const say = (line: string) => console.log(`e2e: ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- processes ---------------------------------------------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dockerHost = process.env.E2E_DOCKER_HOST ?? `unix://${OWN_SOCKET}`;
let proxyPort = 0;
const childEnv = () => ({
  ...process.env,
  DOCKER_HOST: dockerHost,
  // Debian's CLI (/usr/bin/docker 20.10) has BuildKit built in; a newer CLI elsewhere on PATH
  // may refuse DOCKER_BUILDKIT=1 without the buildx plugin.
  PATH: `/usr/bin:${process.env.PATH ?? ''}`,
  DOCKER_BUILDKIT: '1',
  COMPOSE_DOCKER_CLI_BUILD: '1',
  COMPOSE_PROJECT_NAME: PROJECT,
  PROXY_PORT: String(proxyPort),
});

/** Runs a command; never throws for a non-zero exit; kills it after timeoutMs. */
async function run(cmd: string[], { timeoutMs = 120_000, env = childEnv() as Record<string, string> } = {}): Promise<Run> {
  const proc = Bun.spawn(cmd, { cwd: REPO, env, stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Runs a command and returns stdout; throws with its stderr on failure. */
async function must(cmd: string[], timeoutMs = 120_000): Promise<string> {
  const r = await run(cmd, { timeoutMs });
  if (r.code !== 0) throw new Error(`${cmd.slice(0, 4).join(' ')} … exited ${r.code}: ${lastLines(r.stderr || r.stdout, 6)}`);
  return r.stdout;
}

const lastLines = (text: string, n: number) => text.trim().split('\n').slice(-n).join(' | ');
const docker = (...args: string[]) => [existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker', ...args];
let composeCmd: string[] = ['docker-compose'];
const compose = (...args: string[]) => [...composeCmd, '-p', PROJECT, '-f', join(REPO, 'docker-compose.yml'), ...args];

async function which(bin: string): Promise<boolean> {
  return (await run(['sh', '-c', `command -v ${bin}`], { env: { PATH: `/usr/sbin:/sbin:/usr/bin:${process.env.PATH}` } })).code === 0;
}

// ---- steps -------------------------------------------------------------------------------------

let blocked: string | null = null;

/** Runs one counted step; after a failure that later steps need, they fail as "not run". */
async function step(name: string, fn: () => Promise<string>, { blocking = false } = {}): Promise<boolean> {
  const t0 = performance.now();
  if (blocked) {
    results.push({ name, ok: false, seconds: 0, detail: `not run: ${blocked}` });
    say(`FAIL ${name}: not run (${blocked})`);
    return false;
  }
  try {
    const detail = await fn();
    const seconds = (performance.now() - t0) / 1000;
    results.push({ name, ok: true, seconds, detail });
    say(`ok   ${name} (${seconds.toFixed(1)} s): ${detail}`);
    return true;
  } catch (error) {
    const seconds = (performance.now() - t0) / 1000;
    const detail = (error as Error)?.message ?? String(error);
    results.push({ name, ok: false, seconds, detail });
    say(`FAIL ${name} (${seconds.toFixed(1)} s): ${detail}`);
    if (blocking) blocked = `${name} failed`;
    return false;
  }
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s${lastError ? ` (${lastError})` : ''}`);
    await sleep(everyMs);
  }
}

// ---- the engine --------------------------------------------------------------------------------

async function pingDocker(host: string): Promise<boolean> {
  try {
    const init: RequestInit & { unix?: string } = { signal: AbortSignal.timeout(2_000) };
    let url = 'http://localhost/_ping';
    if (host.startsWith('unix://')) init.unix = host.slice('unix://'.length);
    else url = `${host.replace(/^tcp:/, 'http:')}/_ping`;
    return (await fetch(url, init)).ok;
  } catch {
    return false;
  }
}

const asRoot = process.getuid?.() === 0;

async function aptInstall(packages: string[]): Promise<string | null> {
  const sudo = asRoot ? [] : (await run(['sudo', '-n', 'true'])).code === 0 ? ['sudo', '-n'] : null;
  if (!sudo) return `${packages.join(', ')} not installed and neither root nor passwordless sudo to install them`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } as Record<string, string>;
  const update = await run([...sudo, 'apt-get', 'update', '-qq'], { env, timeoutMs: 300_000 });
  if (update.code !== 0) return `apt-get update failed: ${lastLines(update.stderr, 3)}`;
  const install = await run([...sudo, 'apt-get', 'install', '-y', '-qq', '-o', 'DPkg::Lock::Timeout=600', ...packages], { env, timeoutMs: 900_000 });
  if (install.code !== 0) return `apt-get install ${packages.join(' ')} failed: ${lastLines(install.stderr, 3)}`;
  return null;
}

let ourDockerd: { pid: number } | null = null;

/** An engine to talk to, or the reason there is none (the suite is then skipped). */
async function ensureEngine(): Promise<string | null> {
  if (process.env.E2E_DOCKER_HOST) {
    return (await pingDocker(dockerHost)) ? null : `E2E_DOCKER_HOST=${dockerHost} does not answer`;
  }
  // An engine already serving the default socket (a user's, or one systemd started when apt
  // installed docker.io) is used as it is: a second dockerd would fight it over docker0 and iptables.
  if (!(await pingDocker(dockerHost)) && existsSync('/var/run/docker.sock') && (await pingDocker('unix:///var/run/docker.sock'))) {
    dockerHost = 'unix:///var/run/docker.sock';
  }
  if (!(await pingDocker(dockerHost))) {
    const missing = [];
    if (!(await which('dockerd')) || !existsSync('/usr/bin/docker')) missing.push('docker.io');
    if (!(await which('docker-compose'))) missing.push('docker-compose');
    if (missing.length) {
      say(`installing ${missing.join(', ')} (Debian packages)`);
      const failed = await aptInstall(missing);
      if (failed) return failed;
    }
    if (!asRoot) return 'starting dockerd needs root';
    mkdirSync(DATA_ROOT, { recursive: true });
    const log = openSync(DOCKERD_LOG, 'a');
    const proc = Bun.spawn(
      ['dockerd', '-H', dockerHost, '--data-root', DATA_ROOT, '--exec-root', '/run/logbus-e2e-exec', '--pidfile', '/run/logbus-e2e.pid'],
      { stdout: log, stderr: log, stdin: 'ignore', env: { ...process.env, PATH: `/usr/sbin:/sbin:/usr/bin:${process.env.PATH}` } },
    );
    ourDockerd = { pid: proc.pid };
    const deadline = Date.now() + 60_000;
    while (!(await pingDocker(dockerHost))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        ourDockerd = proc.exitCode === null ? ourDockerd : null;
        const tail = existsSync(DOCKERD_LOG) ? lastLines(readFileSync(DOCKERD_LOG, 'utf8'), 3) : '';
        return `dockerd did not come up (${proc.exitCode !== null ? `exit ${proc.exitCode}` : 'no answer in 60 s'}): ${tail}`;
      }
      await sleep(300);
    }
    say(`started dockerd on ${dockerHost} (data root ${DATA_ROOT}, log ${DOCKERD_LOG})`);
  }
  if (!(await which('docker-compose'))) {
    // A user's engine with Compose v2 only.
    if ((await run(docker('compose', 'version'))).code !== 0) return 'neither docker-compose (v1) nor `docker compose` (v2) is available';
    composeCmd = docker('compose');
  }
  return null;
}

async function stopOurDockerd(): Promise<void> {
  if (!ourDockerd) return;
  try {
    process.kill(ourDockerd.pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(ourDockerd.pid, 0);
    } catch {
      say('stopped the dockerd this run started');
      return;
    }
    await sleep(300);
  }
  say(`dockerd (pid ${ourDockerd.pid}) still running 30 s after SIGTERM`);
}

// ---- images ------------------------------------------------------------------------------------

/** The base images the Dockerfiles and the compose file name (ARG defaults substituted). */
function baseImages(): string[] {
  const tags = new Set<string>();
  for (const file of ['aggregator/Dockerfile', 'publisher/Dockerfile', 'ops/Dockerfile']) {
    const args: Record<string, string> = {};
    for (const line of readFileSync(join(REPO, file), 'utf8').split('\n')) {
      const arg = /^ARG\s+(\w+)=(\S+)/.exec(line);
      if (arg) args[arg[1]!] = arg[2]!;
      const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)/i.exec(line);
      if (from) tags.add(from[1]!.replace(/\$\{(\w+)\}/g, (_, k) => args[k] ?? ''));
    }
  }
  const services = parseYaml(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8')).services as Record<
    string,
    { image: string; build?: unknown; profiles?: string[] }
  >;
  for (const s of Object.values(services)) if (!s.build && !s.profiles) tags.add(s.image);
  return [...tags].sort();
}

async function imageExists(tag: string): Promise<boolean> {
  return (await run(docker('image', 'inspect', tag), { timeoutMs: 30_000 })).code === 0;
}

function standinsScript(): string | null {
  const dirs = [process.env.OFFLINE_IMAGES_DIR, join(REPO, '../shared/offline-images')].filter(Boolean) as string[];
  for (const d of dirs) if (existsSync(join(d, 'build-standins.sh'))) return join(d, 'build-standins.sh');
  return null;
}

async function ensureBaseImages(): Promise<string> {
  const wanted = baseImages();
  const missing: string[] = [];
  for (const tag of wanted) if (!(await imageExists(tag))) missing.push(tag);
  if (missing.length === 0) return `${wanted.length} present already (${wanted.join(', ')})`;
  const pulled: string[] = [];
  let pullError = '';
  for (const tag of missing) {
    const r = await run(docker('pull', '-q', tag), { timeoutMs: 300_000 });
    if (r.code !== 0) {
      pullError = lastLines(r.stderr, 1);
      break;
    }
    pulled.push(tag);
  }
  const still = missing.filter((t) => !pulled.includes(t));
  if (still.length === 0) return `pulled ${pulled.join(', ')}`;
  say(`cannot pull ${still[0]} (${pullError}); building local stand-ins`);
  const script = standinsScript();
  if (!script)
    throw new Error(
      `base images missing (${still.join(', ')}), the registry is unreachable and no build-standins.sh was found (set OFFLINE_IMAGES_DIR; looked in ../shared/offline-images)`,
    );
  if (!(await which('mmdebstrap'))) {
    const failed = await aptInstall(['mmdebstrap']);
    if (failed) throw new Error(`the stand-in builder needs mmdebstrap: ${failed}`);
  }
  mkdirSync(STANDINS_DIR, { recursive: true });
  const env = {
    ...childEnv(),
    ...(existsSync('/etc/ssl/certs/ca-certificates.crt') && !process.env.HOST_CA_BUNDLE
      ? { HOST_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt' }
      : {}),
  };
  const t0 = performance.now();
  const r = await run(['bash', script, STANDINS_DIR], { env: env as Record<string, string>, timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`the stand-in builder ${script} itself failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout, 8)}`);
  const after: string[] = [];
  for (const tag of still) if (!(await imageExists(tag))) after.push(tag);
  check(after.length === 0, `the stand-in builder ran but did not produce ${after.join(', ')}`);
  return `${pulled.length ? `pulled ${pulled.join(', ')}; ` : ''}stand-ins built in ${((performance.now() - t0) / 1000).toFixed(0)} s for ${still.join(', ')} (${script})`;
}

/** The runtime node_modules must not hold these (aggregator/Dockerfile prunes them). */
const PRUNED = ['typescript', '@typescript', 'bun-types', '@types', 'undici-types', 'openapi-types', 'pg', 'pg-protocol', 'pg-types'];

async function buildImages(): Promise<string> {
  const t0 = performance.now();
  await must(docker('build', '-q', '-f', 'aggregator/Dockerfile', '-t', AGGREGATOR_IMAGE, '.'), 600_000);
  const t1 = performance.now();
  await must(docker('build', '-q', '-f', 'publisher/Dockerfile', '-t', PUBLISHER_IMAGE, '.'), 600_000);
  const t2 = performance.now();
  return `aggregator ${((t1 - t0) / 1000).toFixed(0)} s, publisher ${((t2 - t1) / 1000).toFixed(0)} s (BuildKit, no frontend image fetched)`;
}

async function prunedImage(): Promise<string> {
  const listing = JSON.parse(
    await must(
      docker(
        'run',
        '--rm',
        '--read-only',
        '--user',
        '1000:1000',
        '--network',
        'none',
        '--entrypoint',
        'bun',
        AGGREGATOR_IMAGE,
        '-e',
        `const fs=require('fs'),p=require('path');let bytes=0;const walk=(d)=>{for(const e of fs.readdirSync(d,{withFileTypes:true})){const f=p.join(d,e.name);if(e.isDirectory())walk(f);else if(e.isFile())bytes+=fs.statSync(f).size}};walk('/app/node_modules');` +
          `const names=fs.readdirSync('/app/node_modules').flatMap((n)=>n.startsWith('@')?[n,...fs.readdirSync('/app/node_modules/'+n).map((x)=>n+'/'+x)]:[n]);console.log(JSON.stringify({bytes,names}))`,
      ),
    ),
  ) as { bytes: number; names: string[] };
  const leftovers = PRUNED.filter((n) => listing.names.includes(n) && (n.startsWith('@') ? listing.names.some((x) => x.startsWith(`${n}/`)) : true));
  check(leftovers.length === 0, `the aggregator image still ships ${leftovers.join(', ')}`);
  for (const needed of ['elysia', 'postgres', 'drizzle-orm', 'pino', 'prom-client'])
    check(listing.names.includes(needed), `the aggregator image lacks ${needed}`);
  const layer = (await must(docker('history', '--format', '{{.Size}}\t{{.CreatedBy}}', AGGREGATOR_IMAGE)))
    .split('\n')
    .find((l) => l.includes('node_modules'))
    ?.split('\t')[0];
  return `node_modules ${(listing.bytes / 1e6).toFixed(1)} MB of files (layer ${layer}), none of ${PRUNED.join(', ')}; elysia, postgres, drizzle-orm, pino, prom-client present (the later steps run it)`;
}

/** The operator image builds and its module graph loads: outside a cluster it refuses at once, exit 3. */
async function operatorImage(): Promise<string> {
  const t0 = performance.now();
  await must(docker('build', '-q', '-f', 'ops/Dockerfile', '-t', OPERATOR_IMAGE, '.'), 600_000);
  const built = ((performance.now() - t0) / 1000).toFixed(0);
  const r = await run(docker('run', '--rm', '--read-only', '--user', '1000:1000', '--cap-drop', 'ALL', '--network', 'none', OPERATOR_IMAGE), {
    timeoutMs: 60_000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  check(r.code === 3 && /no Kubernetes cluster/.test(out), `expected exit 3 "no Kubernetes cluster", got ${r.code}: ${lastLines(out, 3)}`);
  return `built in ${built} s; without a cluster: exit 3 "no Kubernetes cluster"`;
}

async function noDatabaseUrl(): Promise<string> {
  const r = await run(docker('run', '--rm', '--read-only', '--user', '1000:1000', '--cap-drop', 'ALL', '--network', 'none', AGGREGATOR_IMAGE), {
    timeoutMs: 60_000,
  });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.trim());
  check(r.code !== 0, `exited 0 without DATABASE_URL`);
  check(lines.length === 1, `expected one line, got ${lines.length}: ${lines.slice(0, 3).join(' | ')}`);
  check(/DATABASE_URL/.test(lines[0]!) && !/uncaught/i.test(lines[0]!), `unclear message: ${lines[0]}`);
  return `exit ${r.code}: "${lines[0]!.slice(0, 90)}…"`;
}

// ---- compose -----------------------------------------------------------------------------------

const proxyUrl = () => `http://127.0.0.1:${proxyPort}`;

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function containersOf(service: string): Promise<string[]> {
  return (
    await must(
      docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`),
    )
  )
    .split('\n')
    .filter(Boolean);
}

async function health(id: string): Promise<string> {
  return (await must(docker('inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}', id))).trim();
}

async function httpStatus(url: string, init: RequestInit = {}): Promise<number> {
  try {
    return (await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) })).status;
  } catch {
    return 0;
  }
}

async function composeUp(): Promise<string> {
  proxyPort = await freePort();
  const config = await run(compose('config', '-q'));
  check(config.code === 0, `docker-compose config rejects the file: ${lastLines(config.stderr, 4)}`);
  const version = (await run([...composeCmd, 'version', '--short'])).stdout.trim();
  await must(compose('up', '-d', '--no-build', 'postgres', 'aggregator', 'proxy'), 300_000);
  await waitUntil('2 healthy aggregator replicas', 180_000, async () => {
    const ids = await containersOf('aggregator');
    return ids.length === 2 && (await Promise.all(ids.map(health))).every((h) => h === 'healthy');
  });
  await waitUntil('the proxy answering /ready 200', 60_000, async () => (await httpStatus(`${proxyUrl()}/ready`)) === 200);
  return `compose ${version}: config valid; postgres healthy, 2 aggregator replicas healthy, proxy /ready 200 on 127.0.0.1:${proxyPort}`;
}

// ---- the chart's way ---------------------------------------------------------------------------

interface Probe {
  httpGet: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}

async function chartStyle(): Promise<string> {
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
  return `uid ${uid}, read-only root, cap-drop ALL, tmpfs ${tmpfs.join(',')}, ${Object.keys(env).length} chart env vars; startupProbe 200 after ${startedIn.toFixed(1)} s, readiness and liveness 200, POST /publish 202, root not writable, SIGTERM drained and exited 0 in ${stopSeconds.toFixed(1)} s`;
}

// ---- traffic -----------------------------------------------------------------------------------

interface Stats {
  received: number;
  unique_processed: number;
  duplicate_dropped: number;
  pending: number;
}

async function stats(): Promise<Stats> {
  return (await (await fetch(`${proxyUrl()}/stats`, { signal: AbortSignal.timeout(10_000) })).json()) as Stats;
}

async function settledStats(): Promise<Stats> {
  return waitUntil('pending back to 0', 120_000, async () => {
    const s = await stats();
    return s.pending === 0 ? s : null;
  });
}

async function publishAndVerify(): Promise<string> {
  const events = Array.from({ length: 100 }, (_, i) => ({
    topic: 'e2e.proxy',
    event_id: `proxy-${Date.now()}-${i}`,
    timestamp: new Date().toISOString(),
    source: 'e2e',
    payload: { i },
  }));
  const before = await settledStats();
  const response = await fetch(`${proxyUrl()}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([...events, events[0]]),
  });
  check(response.status === 202, `POST /publish through the proxy answered ${response.status}: ${await response.text()}`);
  const after = await settledStats();
  check(
    after.unique_processed - before.unique_processed === 100 && after.duplicate_dropped - before.duplicate_dropped === 1,
    `stats grew by ${JSON.stringify({ unique: after.unique_processed - before.unique_processed, dup: after.duplicate_dropped - before.duplicate_dropped })}, expected 100 unique + 1 duplicate`,
  );
  const r = await run(compose('run', '--rm', '--no-deps', '-e', 'PUBLISHER_EVENTS=5000', '-e', 'PUBLISHER_DUP_RATE=0.3', publisherService), {
    timeoutMs: 300_000,
  });
  check(r.code === 0, `the publisher (--verify) exited ${r.code}: ${lastLines(r.stdout + r.stderr, 6)}`);
  return `101 events through the proxy -> 202, /stats +100 unique +1 duplicate; publisher image (5,000 events, 30% duplicates, PUBLISHER_VERIFY) exit 0: ${lastLines(r.stdout, 1).slice(0, 120)}`;
}
const publisherService = 'publisher';

async function publisherSignals(): Promise<string> {
  const out: string[] = [];
  for (const [signal, expected] of [
    ['TERM', 143],
    ['INT', 130],
  ] as const) {
    const id = (
      await must(
        docker(
          'run',
          '-d',
          '--read-only',
          '--cap-drop',
          'ALL',
          '--security-opt',
          'no-new-privileges:true',
          '--tmpfs',
          '/tmp',
          '--network',
          `${PROJECT}_internal`,
          PUBLISHER_IMAGE,
          '--url',
          'http://proxy:8080',
          '--events',
          '5000000',
          '--rate',
          '500',
          '--dup-rate',
          '0',
          '--topics',
          '1',
          '--batch',
          '50',
        ),
      )
    ).trim();
    try {
      await waitUntil('the publisher running', 30_000, async () => (await must(docker('inspect', '-f', '{{.State.Running}}', id))).trim() === 'true');
      await sleep(2_000);
      const pid1 = (await run(docker('top', id, '-o', 'pid,comm'))).stdout;
      await must(docker('kill', '-s', signal, id));
      const code = Number((await must(docker('wait', id), 30_000)).trim());
      check(code !== 139, `SIG${signal}: exit 139 (SIGSEGV)`);
      check(code === expected, `SIG${signal}: exit ${code}, expected ${expected}`);
      out.push(`SIG${signal} -> ${code}`);
      if (signal === 'TERM') check(/tini/.test(pid1), `tini is not in the container's process list: ${pid1.replace(/\s+/g, ' ')}`);
    } finally {
      await run(docker('rm', '-f', id));
    }
  }
  return `${out.join(', ')} (tini is PID 1 and forwards the signal; deno ends by it, no SIGSEGV)`;
}

async function replicaStop(): Promise<string> {
  const before = await settledStats();
  const replicas = await containersOf('aggregator');
  check(replicas.length === 2, `${replicas.length} replicas`);
  const victim = replicas[0]!;
  const run0 = Date.now();
  const latencies: number[] = [];
  const failures: string[] = [];
  const sentIds = new Set<string>();
  let acked = 0;
  let stop = false;
  const worker = async (w: number) => {
    let n = 0;
    while (!stop) {
      const events = Array.from({ length: 20 }, (_, i) => ({
        topic: `e2e.load.${w % 4}`,
        event_id: `load-${run0}-${w}-${n}-${i}`,
        timestamp: new Date().toISOString(),
        source: 'e2e',
        payload: { w, n, i },
      }));
      // Every fifth request re-sends its first event: a duplicate in the same stream.
      const body = n % 5 === 0 ? [...events, events[0]] : events;
      n++;
      const t = performance.now();
      try {
        const response = await fetch(`${proxyUrl()}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await response.text();
        latencies.push(performance.now() - t);
        if (response.status !== 202) failures.push(`${response.status} ${text.slice(0, 100)}`);
        else {
          acked += body.length;
          for (const e of events) sentIds.add(e.event_id);
        }
      } catch (error) {
        latencies.push(performance.now() - t);
        failures.push(`network: ${(error as Error).message}`);
      }
    }
  };
  const workers = Array.from({ length: 8 }, (_, w) => worker(w));
  await sleep(3_000);
  const s0 = performance.now();
  await must(docker('stop', '-t', '20', victim), 60_000);
  const stopSeconds = (performance.now() - s0) / 1000;
  // The proxy's DNS answer for the stopped replica is cached for up to 5 s: keep the load past it.
  await sleep(8_000);
  stop = true;
  await Promise.all(workers);
  const requests = latencies.length;
  latencies.sort((a, b) => a - b);
  const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  const max = latencies[latencies.length - 1]!;
  const over1s = latencies.filter((l) => l > 1_100).length;
  await must(docker('start', victim));
  const after = await settledStats();
  const unique = after.unique_processed - before.unique_processed;
  const dups = after.duplicate_dropped - before.duplicate_dropped;
  const figures = `${requests} requests (${acked} events) by 8 clients, replica stopped in ${stopSeconds.toFixed(1)} s; latency p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms, max ${max.toFixed(0)} ms, ${over1s} over 1.1 s; /stats +${unique} unique +${dups} duplicates`;
  check(failures.length === 0, `${failures.length} client-visible errors (${[...new Set(failures)].slice(0, 3).join('; ')}); ${figures}`);
  check(unique === sentIds.size, `every acknowledged event processed exactly once: expected +${sentIds.size} unique, got +${unique}; ${figures}`);
  check(dups >= acked - sentIds.size, `expected at least ${acked - sentIds.size} duplicates dropped; ${figures}`);
  check(after.received === after.unique_processed + after.duplicate_dropped + after.pending, `invariant broken: ${JSON.stringify(after)}`);
  // ~1 s is the aim (a connect timeout of 1 s, then the next replica); 2.5 s leaves room for
  // a loaded CI machine without hiding a 60 s hang or a retry chain.
  check(max < 2_500, `a request took ${max.toFixed(0)} ms; ${figures}`);
  await waitUntil('the restarted replica healthy', 120_000, async () => (await health(victim)) === 'healthy');
  return `${figures}; no error; replica restarted and healthy`;
}

async function postgresRestart(): Promise<string> {
  const [pg] = await containersOf('postgres');
  check(!!pg, 'no postgres container');
  const t0 = performance.now();
  await must(docker('restart', '-t', '30', pg!), 90_000);
  await waitUntil(
    'postgres healthy after the restart (it crash-looped with a root-owned socket tmpfs)',
    120_000,
    async () => (await health(pg!)) === 'healthy',
  );
  const healthyIn = (performance.now() - t0) / 1000;
  const owner = (await must(docker('exec', pg!, 'stat', '-c', '%u:%g %a', '/var/run/postgresql'))).trim();
  check(owner.startsWith('999:999 '), `/var/run/postgresql is ${owner} after the restart`);
  const restarts = (await must(docker('inspect', '-f', '{{.RestartCount}}', pg!))).trim();
  check(restarts === '0', `postgres restarted itself ${restarts} times (crash loop)`);
  await waitUntil('the proxy /ready 200 again', 60_000, async () => (await httpStatus(`${proxyUrl()}/ready`)) === 200);
  const event = { topic: 'e2e.pg', event_id: `pg-${Date.now()}`, timestamp: new Date().toISOString(), source: 'e2e', payload: {} };
  const status = await waitUntil('POST /publish 202 after the restart', 60_000, async () => {
    const s = await httpStatus(`${proxyUrl()}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([event]),
    });
    return s === 202 ? s : null;
  });
  const after = await settledStats();
  check(after.received === after.unique_processed + after.duplicate_dropped + after.pending, `invariant broken: ${JSON.stringify(after)}`);
  return `healthy again ${healthyIn.toFixed(1)} s after \`docker restart\`, socket dir ${owner}, no crash loop; replicas ready, POST /publish ${status}, /stats consistent`;
}

async function teardown(): Promise<string> {
  await run(docker('rm', '-f', CHART_CONTAINER));
  const down = await run(compose('down', '-v', '--remove-orphans', '-t', '20'), { timeoutMs: 180_000 });
  check(down.code === 0, `docker-compose down failed: ${lastLines(down.stderr, 3)}`);
  const left = (await must(docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`))).trim();
  check(left === '', `containers left: ${left.replace(/\n/g, ' ')}`);
  const volumes = (await must(docker('volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`))).trim();
  check(volumes === '', `volumes left: ${volumes}`);
  return 'containers, networks and the data volume removed';
}

// ---- main --------------------------------------------------------------------------------------

function finish(code: number): never {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  say(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : code);
}

// Ctrl-C or a CI timeout: leave no stack, no volume and no dockerd of ours behind.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say(`${signal}: tearing down`);
    await run(docker('rm', '-f', CHART_CONTAINER), { timeoutMs: 30_000 });
    await run(compose('down', '-v', '--remove-orphans', '-t', '5'), { timeoutMs: 60_000 });
    await stopOurDockerd();
    process.exit(130);
  });
}

const noEngine = await ensureEngine();
if (noEngine) {
  say(`skipped: no container engine can run here: ${noEngine}`);
  await stopOurDockerd();
  finish(0);
}
say(`engine ${dockerHost}${ourDockerd ? ' (started by this run)' : ''}; compose: ${composeCmd.join(' ')}`);

let composeStarted = false;
try {
  await step('base images', ensureBaseImages, { blocking: true });
  // A container must be able to start at all (some sandboxes run dockerd but no runtime).
  if (!blocked) {
    const bun = baseImages().find((t) => t.startsWith('oven/bun:') && t.endsWith('-distroless'))!;
    const probe = await run(docker('run', '--rm', '--network', 'none', '--entrypoint', '/usr/local/bin/bun', bun, '--version'), {
      timeoutMs: 60_000,
    });
    if (probe.code !== 0) {
      say(`skipped: the engine cannot start containers: ${lastLines(probe.stderr, 2)}`);
      await stopOurDockerd();
      finish(0);
    }
  }
  await step('build images', buildImages, { blocking: true });
  await step('aggregator image pruned', prunedImage);
  await step('aggregator image without DATABASE_URL', noDatabaseUrl);
  await step('operator image', operatorImage);
  composeStarted = true;
  await step('compose up', composeUp, { blocking: true });
  await step('aggregator run the chart way', chartStyle);
  await step('publish through the proxy + publisher --verify', publishAndVerify);
  await step('publisher image: SIGTERM/SIGINT through tini', publisherSignals);
  await step('stop a replica under load', replicaStop);
  await step('restart PostgreSQL', postgresRestart);
} finally {
  blocked = null;
  if (composeStarted) await step('teardown', teardown);
  await stopOurDockerd();
}
finish(0);
