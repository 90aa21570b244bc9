/**
 * Two embedded PostgreSQL servers of one test's own: a primary and a hot standby streaming from
 * it with synchronous replication (a commit returns once the standby has flushed its WAL), for
 * failover tests (docs/SCALING.md "HA on one primary").
 *
 * The embedded binaries have no pg_basebackup, so the standby starts from a cold copy of the
 * primary's data directory taken while the primary is cleanly stopped: PostgreSQL accepts that as
 * a base backup. The primary's synchronous_standby_names is written after the copy, so the
 * standby, once promoted, does not wait for a standby of its own.
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { type EmbeddedPostgres, freePort, startEmbeddedPostgres } from '../src/db/embedded';

const STANDBY_NAME = 'logbus_standby';

export interface StreamingPair {
  /** Superuser URLs of the `postgres` database. */
  readonly primaryUrl: string;
  readonly standbyUrl: string;
  /** Immediate shutdown of the primary (SIGQUIT: no checkpoint, sessions cut, as a crash); resolves once it has exited. */
  crashPrimary(): Promise<void>;
  /** Promotes the standby (pg_promote, waiting); resolves once it takes writes. */
  promoteStandby(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startStreamingPair(): Promise<StreamingPair> {
  const primaryData = mkdtempSync(join(tmpdir(), 'logbus-ha-primary-'));
  const standbyData = mkdtempSync(join(tmpdir(), 'logbus-ha-standby-'));
  const primaryPort = await freePort();
  const standbyPort = await freePort();
  let primary: EmbeddedPostgres | null = await startEmbeddedPostgres({ dataDir: primaryData, port: primaryPort });
  const primaryDir = primary.databaseDir;
  // The standby's cluster lives where startEmbeddedPostgres looks for it: <dataDir>/pg when the
  // server's user can reach the folder (root may move it elsewhere: embedded-root.ts).
  if (primaryDir !== join(resolve(primaryData), 'pg')) {
    await primary.stop();
    throw new Error(`the embedded cluster is not under its data folder (${primaryDir}): this pair needs a reachable ${tmpdir()}`);
  }
  const standbyDir = join(standbyData, 'pg');
  watchdog([primaryDir, standbyDir], [primaryData, standbyData]);

  // Keep the WAL written between the copy and the standby's first connection.
  const setup = postgres(primary.url, { max: 1, onnotice: () => {} });
  await setup`ALTER SYSTEM SET wal_keep_size = '512MB'`;
  await setup.end();
  await primary.stop();
  execFileSync('cp', ['-a', primaryDir, standbyDir]);
  const owner = statSync(standbyDir);
  writeFileSync(join(standbyDir, 'standby.signal'), '');
  chownSync(join(standbyDir, 'standby.signal'), owner.uid, owner.gid);
  appendFileSync(
    join(standbyDir, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres password=postgres application_name=${STANDBY_NAME}'\n`,
  );
  appendFileSync(join(primaryDir, 'postgresql.auto.conf'), `synchronous_standby_names = '${STANDBY_NAME}'\n`);

  primary = await startEmbeddedPostgres({ dataDir: primaryData, port: primaryPort });
  let standby: EmbeddedPostgres | null = await startEmbeddedPostgres({ dataDir: standbyData, port: standbyPort });
  const primaryUrl = primary.url;
  const admin = postgres(primaryUrl, { max: 1, onnotice: () => {} });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [row] = await admin<{ state: string | null }[]>`
        SELECT sync_state AS state FROM pg_stat_replication WHERE application_name = ${STANDBY_NAME}`;
      if (row?.state === 'sync') break;
      if (Date.now() > deadline) throw new Error(`the standby is not a synchronous standby after 60 s (sync_state ${row?.state ?? 'absent'})`);
      await Bun.sleep(50);
    }
  } finally {
    await admin.end();
  }

  return {
    primaryUrl,
    standbyUrl: standby.url,
    async crashPrimary() {
      const current = primary;
      primary = null;
      if (!current) return;
      process.kill(current.pid, 'SIGQUIT');
      await current.stop();
    },
    async promoteStandby() {
      const sql = postgres(standby!.url, { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql<{ promoted: boolean }[]>`SELECT pg_promote(true, 60) AS promoted`;
        if (!row!.promoted) throw new Error('pg_promote did not finish within 60 s');
      } finally {
        await sql.end();
      }
    },
    async destroy() {
      await primary?.stop();
      await standby?.stop();
      primary = null;
      standby = null;
      for (const dir of [primaryData, standbyData]) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** If the test process dies, stop whichever postmasters still run and remove the folders. */
function watchdog(clusters: string[], folders: string[]): void {
  const stops = clusters
    .map(
      (dir) =>
        `pid=$(head -1 '${dir}/postmaster.pid' 2>/dev/null); [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; ` +
        `while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; `,
    )
    .join('');
  spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ${stops} rm -rf ${folders.map((f) => `'${f}'`).join(' ')}`], {
    detached: true,
    stdio: 'ignore',
  }).unref();
}
