/**
 * What every e2e module shares: this run's names (per run, so two runs on one machine never share
 * a dockerd, a data root or a compose project), the engine this run talks to, and running commands.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dir, '../..');
/** This run's id: names its dockerd socket, data root and compose project (E2E_RUN_ID, else the pid). */
export const RUN_ID = process.env.E2E_RUN_ID ?? String(process.pid);
export const PROJECT = `logbus-e2e-${RUN_ID}`;
export const OWN_SOCKET = `/run/logbus-e2e-${RUN_ID}.sock`;
/** Set: that data root, kept (a cache the caller owns). Unset: one per run, removed at the end. */
export const DATA_ROOT = process.env.E2E_DOCKER_DATA_ROOT ?? `/var/lib/logbus-e2e-docker/${RUN_ID}`;
export const STANDINS_DIR = process.env.E2E_STANDINS_DIR ?? '/var/tmp/logbus-e2e-standins';
export const DOCKERD_LOG = `/tmp/logbus-e2e-dockerd-${RUN_ID}.log`;
export const AGGREGATOR_IMAGE = 'logbus-aggregator:dev';
export const PUBLISHER_IMAGE = 'logbus-publisher:dev';
export const OPERATOR_IMAGE = 'logbus-operator:dev';
export const CHART_CONTAINER = `${PROJECT}-chart-style`;

export const say = (line: string) => console.log(`e2e: ${line}`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The engine this run talks to (engine.ts decides), and the proxy port of its stack (stack.ts). */
export const engine = {
  host: process.env.E2E_DOCKER_HOST ?? `unix://${OWN_SOCKET}`,
  compose: ['docker-compose'],
  proxyPort: 0,
};
export const childEnv = () => ({
  ...process.env,
  DOCKER_HOST: engine.host,
  // Debian's CLI (/usr/bin/docker 20.10) has BuildKit built in; a newer CLI elsewhere on PATH
  // may refuse DOCKER_BUILDKIT=1 without the buildx plugin.
  PATH: `/usr/bin:${process.env.PATH ?? ''}`,
  DOCKER_BUILDKIT: '1',
  COMPOSE_DOCKER_CLI_BUILD: '1',
  COMPOSE_PROJECT_NAME: PROJECT,
  PROXY_PORT: String(engine.proxyPort),
});

/** Runs a command; never throws for a non-zero exit; kills it after timeoutMs. */
export async function run(cmd: string[], { timeoutMs = 120_000, env = childEnv() as Record<string, string> } = {}): Promise<Run> {
  const proc = Bun.spawn(cmd, { cwd: REPO, env, stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Runs a command and returns stdout; throws with its stderr on failure. */
export async function must(cmd: string[], timeoutMs = 120_000): Promise<string> {
  const r = await run(cmd, { timeoutMs });
  if (r.code !== 0) throw new Error(`${cmd.slice(0, 4).join(' ')} … exited ${r.code}: ${lastLines(r.stderr || r.stdout, 6)}`);
  return r.stdout;
}

export const lastLines = (text: string, n: number) => text.trim().split('\n').slice(-n).join(' | ');
export const docker = (...args: string[]) => [existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker', ...args];
export const compose = (...args: string[]) => [...engine.compose, '-p', PROJECT, '-f', join(REPO, 'docker-compose.yml'), ...args];

export async function which(bin: string): Promise<boolean> {
  return (await run(['sh', '-c', `command -v ${bin}`], { env: { PATH: `/usr/sbin:/sbin:/usr/bin:${process.env.PATH}` } })).code === 0;
}
