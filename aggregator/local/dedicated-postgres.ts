/**
 * A PostgreSQL server of one test's own, which the test may stop and start again: the shared
 * server of the run must never go down. It keeps its port across restarts, so replicas configured
 * with its URL find it again by themselves.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedPostgres, freePort, startEmbeddedPostgres } from '../src/db/embedded';

export interface DedicatedPostgres {
  readonly url: string;
  readonly running: boolean;
  /** Fast shutdown: sessions are terminated, in-flight transactions roll back. */
  stop(): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops the server, keeps a copy of its cluster as it is now (clean shutdown), starts it again. */
  keepCopy(): Promise<void>;
  /**
   * Stops the server and starts the copy kept by keepCopy in its place, on the same port: a
   * server that missed everything since, as a promoted standby that had fallen behind or a
   * restore from backup would be.
   */
  replaceWithCopy(): Promise<void>;
  /** Stops the server and removes its files. */
  destroy(): Promise<void>;
}

export async function startDedicatedPostgres(prefix = 'logbus-dedicated-pg-'): Promise<DedicatedPostgres> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const port = await freePort();
  let server: EmbeddedPostgres | null = await startEmbeddedPostgres({ dataDir, port });
  // As root the cluster may live outside dataDir (embedded-root.ts); it stays put across restarts.
  const databaseDir = server.databaseDir;
  const copyDir = `${databaseDir}.copy`;
  // If the test process dies, stop whichever postmaster runs now and remove the folder.
  const pidFile = join(databaseDir, 'postmaster.pid');
  spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ` +
        `pid=$(head -1 '${pidFile}' 2>/dev/null); [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; ` +
        `while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; rm -rf '${dataDir}' '${databaseDir}' '${copyDir}'`,
    ],
    { detached: true, stdio: 'ignore' },
  ).unref();

  const stop = async () => {
    const current = server;
    server = null;
    await current?.stop();
  };
  return {
    url: server.url,
    get running() {
      return server !== null;
    },
    stop,
    async start() {
      if (server) return;
      server = await startEmbeddedPostgres({ dataDir, port });
    },
    async keepCopy() {
      await stop();
      rmSync(copyDir, { recursive: true, force: true });
      execFileSync('cp', ['-a', databaseDir, copyDir]);
      server = await startEmbeddedPostgres({ dataDir, port });
    },
    async replaceWithCopy() {
      await stop();
      rmSync(databaseDir, { recursive: true, force: true });
      renameSync(copyDir, databaseDir);
      server = await startEmbeddedPostgres({ dataDir, port });
    },
    async destroy() {
      await stop();
      for (const dir of [dataDir, databaseDir, copyDir]) rmSync(dir, { recursive: true, force: true });
    },
  };
}
