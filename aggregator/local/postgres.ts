/**
 * The one provider of PostgreSQL for tests, in order of preference:
 *   1. TEST_DATABASE_URL or DATABASE_URL (a superuser URL; the root runner sets the former),
 *   2. testcontainers (postgres:16) when a Docker engine answers and the container starts,
 *   3. embedded PostgreSQL from npm in a temporary directory.
 * A Docker engine that answers but cannot start the container (offline, no pull access, a
 * mirror or proxy in the way) falls back to 3 with one line saying why.
 * TEST_POSTGRES=url|container|embedded forces one choice, and then a failure is an error.
 * Each test file gets its own database cloned from a migrated template, so files never share
 * rows and migrations run once per server.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { EmbeddedPostgresError, startEmbeddedPostgres } from '../src/db/embedded';
import { migrateDatabase } from '../src/db/migrate';

export interface PostgresServer {
  /** Superuser URL of the maintenance database. */
  adminUrl: string;
  kind: 'url' | 'testcontainers' | 'embedded';
  stop(): Promise<void>;
}

const TEMPLATE = 'logbus_test_template';

/** Replaces the database name in a postgres URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Where the Docker engine is expected: DOCKER_HOST, else the default socket. */
function dockerEndpoint(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

async function dockerAnswers(env: NodeJS.ProcessEnv): Promise<boolean> {
  const host = env.DOCKER_HOST;
  const socket = host?.startsWith('unix://') ? host.slice(7) : host ? null : '/var/run/docker.sock';
  try {
    if (socket) {
      if (!existsSync(socket)) return false;
      const response = await fetch('http://localhost/_ping', { unix: socket, signal: AbortSignal.timeout(2_000) } as RequestInit);
      return response.ok;
    }
    const response = await fetch(`${host!.replace(/^tcp:/, 'http:')}/_ping`, { signal: AbortSignal.timeout(2_000) });
    return response.ok;
  } catch {
    return false;
  }
}

async function startContainer(): Promise<PostgresServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('postgres:16')
    .withEnvironment({ POSTGRES_PASSWORD: 'postgres' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  return {
    adminUrl: `postgres://postgres:postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
    kind: 'testcontainers',
    stop: async () => void (await container.stop()),
  };
}

async function startEmbedded(): Promise<PostgresServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'logbus-test-pg-'));
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  try {
    server = await startEmbeddedPostgres({ dataDir });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  // As root the cluster may live outside dataDir (embedded-root.ts): remove both.
  const databaseDir = server.databaseDir;
  const remove = `rm -rf '${dataDir}' '${databaseDir}'`;
  // Bun's test runner fires no exit hooks, so a detached watchdog stops the server and removes
  // its folder once this process is gone, however it ended.
  const pid = Number(readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; kill -INT ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.2; done; ${remove}`,
    ],
    { detached: true, stdio: 'ignore' },
  ).unref();
  return {
    adminUrl: server.url,
    kind: 'embedded',
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}

const CHOICES = ['url', 'container', 'embedded'] as const;

/** A failure to provide a test database, said in one sentence. */
export class TestPostgresError extends Error {
  override name = 'TestPostgresError';
}

/**
 * Starts (or finds) a PostgreSQL server, by the preference order above or as TEST_POSTGRES says.
 * `say` gets the one line explaining a fallback.
 */
export async function startPostgresServer(env: NodeJS.ProcessEnv = process.env, say: (line: string) => void = console.log): Promise<PostgresServer> {
  const choice = env.TEST_POSTGRES?.trim() || undefined;
  if (choice !== undefined && !(CHOICES as readonly string[]).includes(choice)) {
    throw new TestPostgresError(`TEST_POSTGRES=${choice} is not one of ${CHOICES.join(', ')} (or unset to choose automatically).`);
  }
  const url = env.TEST_DATABASE_URL || env.DATABASE_URL;
  if (choice === 'url' || (choice === undefined && url)) {
    if (!url) throw new TestPostgresError('TEST_POSTGRES=url needs TEST_DATABASE_URL (or DATABASE_URL) set to a superuser URL.');
    return { adminUrl: url, kind: 'url', stop: async () => {} };
  }
  if (choice === 'container') {
    try {
      return await startContainer();
    } catch (error) {
      throw new TestPostgresError(`TEST_POSTGRES=container, but no PostgreSQL container could start at ${dockerEndpoint(env)}: ${firstLine(error)}.`);
    }
  }
  if (choice === undefined && (await dockerAnswers(env))) {
    try {
      return await startContainer();
    } catch (error) {
      say(
        `[test] Docker answers at ${dockerEndpoint(env)} but a PostgreSQL container could not start (${firstLine(error)}): using embedded PostgreSQL instead (TEST_POSTGRES=container insists on Docker).`,
      );
    }
  }
  try {
    return await startEmbedded();
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) throw new TestPostgresError(error.message);
    throw error;
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n').find((line) => line.trim()) ?? 'unknown error').trim().replace(/\.$/, '').slice(0, 300);
}

let shared: Promise<PostgresServer> | null = null;

/**
 * The server for this test process, started on first use and stopped by a watchdog when the
 * process ends (see startEmbedded).
 */
export function sharedServer(): Promise<PostgresServer> {
  if (!shared) {
    shared = startPostgresServer();
  }
  return shared;
}

/**
 * Stops the shared server, if this process started one. A script (a benchmark) calls it last: the
 * embedded server is a child process, which keeps the script running once its work is done.
 * Test files need not: the test runner exits regardless, and the watchdog stops the server.
 */
export async function stopSharedServer(): Promise<void> {
  const starting = shared;
  shared = null;
  const server = await starting?.catch(() => null);
  await server?.stop();
}

/** Creates the migrated template once per server; concurrent callers serialise on a lock. */
async function ensureTemplate(adminUrl: string): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin`SELECT pg_advisory_lock(7351002)`;
    const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${TEMPLATE}`;
    if (!exists) {
      await admin.unsafe(`CREATE DATABASE ${TEMPLATE}`);
      await migrateDatabase(withDatabase(adminUrl, TEMPLATE));
    }
    await admin`SELECT pg_advisory_unlock(7351002)`;
  } finally {
    await admin.end();
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

let counter = 0;

/**
 * A fresh database of its own, migrated unless `migrated: false`; `drop()` removes it
 * (terminating stray sessions).
 */
export async function createTestDatabase(prefix = 'test', options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const { adminUrl } = await sharedServer();
  const migrated = options.migrated ?? true;
  if (migrated) await ensureTemplate(adminUrl);
  const name = `${prefix}_${process.pid}_${Date.now()}_${counter++}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(migrated ? `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}` : `CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: async () => {
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
