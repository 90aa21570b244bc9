/**
 * The one provider of PostgreSQL for tests, in order of preference:
 *   1. TEST_DATABASE_URL or DATABASE_URL (a superuser URL; the root runner sets the former),
 *   2. testcontainers (postgres:16) when a Docker engine answers,
 *   3. embedded PostgreSQL from npm in a temporary directory.
 * Each test file gets its own database cloned from a migrated template, so files never share
 * rows and migrations run once per server.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/db/embedded';
import { migrateDatabase } from '../../src/db/migrate';

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

async function dockerAnswers(): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
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
  const server = await startEmbeddedPostgres({ dataDir });
  // Bun's test runner fires no exit hooks, so a detached watchdog stops the server and removes
  // its folder once this process is gone, however it ended.
  const pid = Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  spawn(
    'sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; kill -INT ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.2; done; rm -rf '${dataDir}'`],
    { detached: true, stdio: 'ignore' },
  ).unref();
  return {
    adminUrl: server.url,
    kind: 'embedded',
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts (or finds) a PostgreSQL server, by the preference order above. */
export async function startPostgresServer(): Promise<PostgresServer> {
  const url = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (url) return { adminUrl: url, kind: 'url', stop: async () => {} };
  if (await dockerAnswers()) return startContainer();
  return startEmbedded();
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
