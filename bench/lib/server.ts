/**
 * Lifecycle of what the bench measures: one embedded PostgreSQL in a temporary folder for the
 * whole run (so every ratio compares figures from the same server), a migrated template
 * database, and aggregator processes started exactly as `npm start` starts them.
 *
 * Every measured run gets a fresh database cloned from the template and fresh aggregator
 * processes, so no run inherits the previous one's tables, bloat or caches in the process.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../aggregator/src/db/embedded';
import { migrateDatabase } from '../../aggregator/src/db/migrate';
import { type AggregatorProcess, spawnAggregator } from '../../aggregator/local/process';

const TEMPLATE = 'bench_template';

export interface BenchServer {
  /** Superuser URL of the `postgres` database. */
  adminUrl: string;
  /** Superuser connection to `postgres`, for CREATE DATABASE, CHECKPOINT and statistics. */
  admin: postgres.Sql;
  version: string;
  postmasterPid: number;
  /** A fresh database: migrated for the aggregator (`migrated`) or empty. Returns its URL. */
  createDatabase(name: string, migrated: boolean): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** Records a spawned process so the watchdog kills it if the bench dies. */
  track(pid: number): void;
  stop(): Promise<void>;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * If the bench is killed (or crashes), a detached shell kills what it started and removes the
 * temporary folder, so nothing is left running on the shared machine.
 */
function startWatchdog(dir: string, pidFile: string): void {
  // The postmaster pid is read when needed: the server restarts once during setup.
  const script = `
    while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done
    for pid in $(cat '${dir}/pids' 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    pm=$(head -n 1 '${pidFile}' 2>/dev/null)
    if [ -n "$pm" ]; then
      kill -INT "$pm" 2>/dev/null
      while kill -0 "$pm" 2>/dev/null; do sleep 0.2; done
    fi
    rm -rf '${dir}'`;
  spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' }).unref();
}

/**
 * Starts PostgreSQL with pg_stat_statements preloaded (set with ALTER SYSTEM, then a restart of
 * the same cluster), so the report can say which statements the time went to. The server flags
 * are otherwise exactly those of aggregator/src/db/embedded.ts.
 */
export async function startServer(log: (line: string) => void): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'logbus-bench-'));
  // As root the server runs as the `postgres` user, which must be able to reach its folder.
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'data');
  let embedded = await startEmbeddedPostgres({ dataDir });
  // <dataDir>/pg, unless running as root put it elsewhere (aggregator/src/db/embedded-root.ts).
  const pidFile = join(embedded.databaseDir, 'postmaster.pid');
  startWatchdog(dir, pidFile);
  {
    const setup = postgres(embedded.url, { max: 1, onnotice: () => {} });
    await setup`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`;
    await setup.end();
    await embedded.stop();
    embedded = await startEmbeddedPostgres({ dataDir, port: embedded.port });
  }
  const postmasterPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  const admin = postgres(embedded.url, { max: 2, onnotice: () => {} });
  await admin`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
  const [setting] = await admin<{ version: string }[]>`SELECT current_setting('server_version') AS version`;
  const version = setting!.version;
  log(`PostgreSQL ${version} on port ${embedded.port} in ${dataDir}`);

  await admin.unsafe(`CREATE DATABASE ${TEMPLATE}`);
  await migrateDatabase(withDatabase(embedded.url, TEMPLATE));

  return {
    adminUrl: embedded.url,
    admin,
    version,
    postmasterPid,
    async createDatabase(name, migrated) {
      await admin.unsafe(`CREATE DATABASE ${name}${migrated ? ` TEMPLATE ${TEMPLATE}` : ''}`);
      return withDatabase(embedded.url, name);
    },
    async dropDatabase(name) {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
    track(pid) {
      appendFileSync(join(dir, 'pids'), `${pid}\n`);
    },
    async stop() {
      await admin.end({ timeout: 5 });
      await embedded.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Aggregators {
  urls: string[];
  pids: number[];
  /** Warning and error log lines the processes printed since they were ready (pino levels 40+). */
  problems(): string[];
  /** SIGTERM, then wait for the drain; SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Starts `count` aggregator processes on `databaseUrl` and waits until each is ready. */
export async function startAggregators(server: BenchServer, databaseUrl: string, count: number, env: Record<string, string>): Promise<Aggregators> {
  const procs: AggregatorProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const proc = await spawnAggregator({ ...env, DATABASE_URL: databaseUrl });
      server.track(proc.proc.pid);
      procs.push(proc);
    }
    await Promise.all(procs.map((p) => p.waitReady(60_000)));
  } catch (error) {
    for (const p of procs) p.kill('SIGKILL');
    throw error;
  }
  // Startup is not the run: /ready answering 503 while migrating is logged as a warning.
  const readyAt = procs.map((p) => p.output().length);
  return {
    urls: procs.map((p) => p.url),
    pids: procs.map((p) => p.proc.pid),
    problems: () =>
      procs.flatMap((p, i) =>
        p
          .output()
          .slice(readyAt[i])
          .split('\n')
          .filter((line) => /"level":(40|50|60)/.test(line)),
      ),
    async stop(timeoutMs = 15_000) {
      await Promise.all(
        procs.map(async (p) => {
          if (p.proc.exitCode !== null) return;
          p.kill('SIGTERM');
          const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
          await p.exited;
          clearTimeout(timer);
        }),
      );
    },
  };
}
