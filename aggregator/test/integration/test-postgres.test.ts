/**
 * The test database provider with a Docker engine that answers /_ping but can start nothing (an
 * offline machine, a registry mirror or proxy in the way): `npm test` must fall back to embedded
 * PostgreSQL with one line saying why, and TEST_POSTGRES must force a choice. The engine is a fake
 * on a unix socket passed as DOCKER_HOST (never the machine's /var/run/docker.sock).
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const PROVIDER = resolve(import.meta.dir, '../../local/postgres.ts');
const dir = mkdtempSync(join(tmpdir(), 'logbus-fake-docker-'));
const socket = join(dir, 'docker.sock');
const requests: string[] = [];

const INFO = {
  ID: 'fake',
  Name: 'fake-engine',
  ServerVersion: '26.1.5',
  OperatingSystem: 'Debian',
  OSType: 'linux',
  Architecture: 'x86_64',
  NCPU: 2,
  MemTotal: 1 << 30,
  Labels: [],
};
const VERSION = { Version: '26.1.5', ApiVersion: '1.45', MinAPIVersion: '1.24', Os: 'linux', Arch: 'amd64' };

// Answers like an engine with no images that cannot reach a registry: ping, info and version
// work, an image is not found locally, and pulling it (or creating anything) fails with a 500,
// as dockerd does when the registry is unreachable.
const fakeDocker = Bun.serve({
  unix: socket,
  fetch(request) {
    const path = new URL(request.url, 'http://docker').pathname.replace(/^\/v[\d.]+/, '');
    requests.push(`${request.method} ${path}`);
    if (path === '/_ping') return new Response('OK', { headers: { 'api-version': '1.45', 'content-type': 'text/plain' } });
    if (path === '/info') return Response.json(INFO);
    if (path === '/version') return Response.json(VERSION);
    if (path === '/networks/bridge')
      return Response.json({
        Name: 'bridge',
        Id: 'bridge',
        Driver: 'bridge',
        IPAM: { Config: [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }] },
      });
    if (request.method === 'GET' && /^\/(images|containers)\/.+\/json$/.test(path))
      return Response.json({ message: 'No such image' }, { status: 404 });
    if (request.method === 'GET' && /^\/(images|containers|networks|volumes)\/json$/.test(path)) return Response.json([]);
    return Response.json({ message: 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host' }, { status: 500 });
  },
});

afterAll(() => {
  fakeDocker.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs startPostgresServer() in a process of its own (testcontainers caches its engine per process). */
async function provide(env: Record<string, string>) {
  const script = `
    import { startPostgresServer } from ${JSON.stringify(PROVIDER)};
    try {
      const server = await startPostgresServer();
      const { default: postgres } = await import('postgres');
      const sql = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
      const [row] = await sql\`SELECT 1 AS one\`;
      await sql.end();
      console.log('KIND ' + server.kind + ' ' + row.one);
      await server.stop();
    } catch (error) {
      console.log('ERROR ' + error.name + ': ' + error.message);
    }
  `;
  const base = { ...process.env };
  for (const name of ['TEST_DATABASE_URL', 'DATABASE_URL', 'TEST_POSTGRES']) delete base[name];
  const proc = Bun.spawn([process.execPath, '-e', script], {
    cwd: resolve(import.meta.dir, '../..'),
    env: { ...base, DOCKER_HOST: `unix://${socket}`, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

describe('test PostgreSQL with a Docker engine that cannot pull', () => {
  test('unset TEST_POSTGRES: falls back to embedded PostgreSQL with one line saying why', async () => {
    const { stdout, stderr, code } = await provide({});
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const why = stdout.split('\n').filter((line) => line.includes('could not start'));
    expect(why).toHaveLength(1);
    expect(why[0]).toContain(`Docker answers at unix://${socket}`);
    expect(why[0]).toContain('using embedded PostgreSQL instead');
    expect(stdout).toContain('KIND embedded 1');
    // It got as far as the pull, which is what failed (the docker-modem 500 of the bug report).
    expect(requests).toContain('POST /images/create');
    expect(why[0]).toContain('(HTTP code 500)');
  }, 120_000);

  test('TEST_POSTGRES=container insists: an error in one sentence, no fallback', async () => {
    const { stdout, code } = await provide({ TEST_POSTGRES: 'container' });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ERROR TestPostgresError: TEST_POSTGRES=container, but no PostgreSQL container could start at unix:\/\/.*\.\n$/);
    expect(stdout).not.toContain('KIND');
  }, 120_000);

  test('TEST_POSTGRES=embedded skips Docker altogether', async () => {
    const before = requests.length;
    const { stdout } = await provide({ TEST_POSTGRES: 'embedded' });
    expect(stdout.trim()).toBe('KIND embedded 1');
    expect(requests.length).toBe(before);
  }, 120_000);

  test('TEST_POSTGRES=url without a URL, or an unknown value: one sentence', async () => {
    expect((await provide({ TEST_POSTGRES: 'url' })).stdout.trim()).toBe(
      'ERROR TestPostgresError: TEST_POSTGRES=url needs TEST_DATABASE_URL (or DATABASE_URL) set to a superuser URL.',
    );
    expect((await provide({ TEST_POSTGRES: 'docker' })).stdout.trim()).toBe(
      'ERROR TestPostgresError: TEST_POSTGRES=docker is not one of url, container, embedded (or unset to choose automatically).',
    );
  }, 60_000);
});
