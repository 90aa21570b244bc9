/** The container engine: E2E_DOCKER_HOST, an engine on the default socket, or a dockerd of this run's own. */
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { DATA_ROOT, DOCKERD_LOG, RUN_ID, docker, engine, lastLines, run, say, sleep, which } from './shell';

export async function pingDocker(host: string): Promise<boolean> {
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

export async function aptInstall(packages: string[]): Promise<string | null> {
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

/** Whether this run started the dockerd it talks to (and stops it at the end). */
export const startedOwnEngine = () => ourDockerd !== null;

/** An engine to talk to, or the reason there is none (the suite is then skipped). */
export async function ensureEngine(): Promise<string | null> {
  if (process.env.E2E_DOCKER_HOST) {
    return (await pingDocker(engine.host)) ? null : `E2E_DOCKER_HOST=${engine.host} does not answer`;
  }
  // An engine already serving the default socket (a user's, or one systemd started when apt
  // installed docker.io) is used as it is: a second dockerd would fight it over docker0 and iptables.
  if (!(await pingDocker(engine.host)) && existsSync('/var/run/docker.sock') && (await pingDocker('unix:///var/run/docker.sock'))) {
    engine.host = 'unix:///var/run/docker.sock';
  }
  if (!(await pingDocker(engine.host))) {
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
      [
        'dockerd',
        '-H',
        engine.host,
        '--data-root',
        DATA_ROOT,
        '--exec-root',
        `/run/logbus-e2e-exec-${RUN_ID}`,
        '--pidfile',
        `/run/logbus-e2e-${RUN_ID}.pid`,
      ],
      { stdout: log, stderr: log, stdin: 'ignore', env: { ...process.env, PATH: `/usr/sbin:/sbin:/usr/bin:${process.env.PATH}` } },
    );
    ourDockerd = { pid: proc.pid };
    const deadline = Date.now() + 60_000;
    while (!(await pingDocker(engine.host))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        ourDockerd = proc.exitCode === null ? ourDockerd : null;
        const tail = existsSync(DOCKERD_LOG) ? lastLines(readFileSync(DOCKERD_LOG, 'utf8'), 3) : '';
        return `dockerd did not come up (${proc.exitCode !== null ? `exit ${proc.exitCode}` : 'no answer in 60 s'}): ${tail}`;
      }
      await sleep(300);
    }
    say(`started dockerd on ${engine.host} (data root ${DATA_ROOT}, log ${DOCKERD_LOG})`);
  }
  if (!(await which('docker-compose'))) {
    // A user's engine with Compose v2 only.
    if ((await run(docker('compose', 'version'))).code !== 0) return 'neither docker-compose (v1) nor `docker compose` (v2) is available';
    engine.compose = docker('compose');
  }
  return null;
}

/** The per-run data root (E2E_DOCKER_DATA_ROOT unset) goes with its dockerd: gigabytes of images. */
function removeRunDataRoot(): void {
  if (process.env.E2E_DOCKER_DATA_ROOT) return;
  try {
    rmSync(DATA_ROOT, { recursive: true, force: true });
  } catch (error) {
    say(`could not remove ${DATA_ROOT}: ${(error as Error).message}`);
  }
}

export async function stopOurDockerd(): Promise<void> {
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
      removeRunDataRoot();
      return;
    }
    await sleep(300);
  }
  say(`dockerd (pid ${ourDockerd.pid}) still running 30 s after SIGTERM`);
}
