/**
 * Two `npm start` in one checkout (real processes): the second refuses, naming the first one's
 * pid, and leaves it and its embedded PostgreSQL alone; when that PostgreSQL stops under the
 * running aggregator, the aggregator says so and exits non-zero.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '../../local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { waitFor } from '../support/faults';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
}, 60_000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The postmaster pid of `agg`'s embedded server, from the folder its start line names. */
function postmasterPid(agg: AggregatorProcess): number {
  const line = agg
    .output()
    .split('\n')
    .find((l) => l.includes('embedded PostgreSQL running'));
  const { databaseDir } = JSON.parse(line!) as { databaseDir: string };
  return Number(readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Whether a socket asking for SO_REUSEPORT can join `port` (it can only if every holder asked too). */
function canJoin(port: number): boolean {
  try {
    const intruder = Bun.serve({ port, hostname: '0.0.0.0', reusePort: true, fetch: () => new Response('intruder') });
    void intruder.stop(true);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    return false;
  }
}

describe('one logbus per port and data directory', () => {
  test('the port is bound without SO_REUSEPORT unless REUSE_PORT=true asks for it', async () => {
    const db = await createTestDatabase('instance-port');
    cleanups.push(() => db.drop());
    const exclusive = await spawnAggregator({ DATABASE_URL: db.url });
    cleanups.push(() => exclusive.kill('SIGKILL'));
    await exclusive.waitReady(60_000);
    // The listen itself, not only the check before it: a socket asking to share is refused.
    expect(canJoin(exclusive.port)).toBe(false);

    // Asked for: a second logbus shares the port, and so could anything else (positive control of
    // canJoin: the same probe succeeds against a port bound with SO_REUSEPORT).
    const shared = await spawnAggregator({ DATABASE_URL: db.url, REUSE_PORT: 'true' });
    cleanups.push(() => shared.kill('SIGKILL'));
    await shared.waitReady(60_000);
    const sibling = await spawnAggregator({ DATABASE_URL: db.url, REUSE_PORT: 'true' }, shared.port);
    cleanups.push(() => sibling.kill('SIGKILL'));
    // Its /health may be answered by `shared`: wait for its own ready line.
    await waitFor('the sibling ready', () => sibling.output().includes('"msg":"ready"'), 60_000, 100);
    expect([shared.proc.exitCode, sibling.proc.exitCode]).toEqual([null, null]);
    expect(canJoin(shared.port)).toBe(true);
    for (const agg of [exclusive, shared, sibling]) {
      agg.kill('SIGTERM');
      expect({ pid: agg.pid, exit: await agg.exited }).toEqual({ pid: agg.pid, exit: 0 });
    }
  }, 180_000);

  test('a second start refuses (port, then data directory) and the first keeps running; its database dying ends it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'logbus-instance-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env = { DATABASE_URL: '', TEST_DATABASE_URL: '', DATA_DIR: dataDir, DRAIN_TIMEOUT_MS: '2000' };
    const first = await spawnAggregator(env);
    cleanups.push(() => first.kill('SIGKILL'));
    await first.waitReady(90_000);
    const postgres = postmasterPid(first);
    expect(alive(postgres)).toBe(true);
    expect(first.output()).toContain(`listening on http://localhost:${first.port} (dashboard http://localhost:${first.port}/, API reference`);
    expect(first.output()).toContain('no token is set (AUTH_TOKEN, AUTH_TOKENS or AUTH_TOKENS_FILE)');

    // Same port, same data directory: the port is checked first, before anything slow.
    const samePort = await spawnAggregator(env, first.port);
    expect(await samePort.exited).toBe(1);
    expect(samePort.output()).toContain(`Port ${first.port} is already in use by pid ${first.pid}`);

    // Another port, same data directory: the data directory is refused, its server left alone.
    const sameDir = await spawnAggregator(env);
    expect(await sameDir.exited).toBe(1);
    expect(sameDir.output()).toContain(`Another logbus (pid ${first.pid}`);
    expect(sameDir.output()).toContain(dataDir);

    // An external database does not take the data directory, but the port is still checked.
    const db = await createTestDatabase('instance');
    cleanups.push(() => db.drop());
    const external = await spawnAggregator({ DATABASE_URL: db.url }, first.port);
    expect(await external.exited).toBe(1);
    expect(external.output()).toContain(`already in use by pid ${first.pid}`);

    // The first one is untouched: same server, still serving.
    expect(alive(postgres)).toBe(true);
    expect((await fetch(`${first.url}/stats`)).status).toBe(200);
    expect(first.proc.exitCode).toBeNull();

    // Its PostgreSQL stopped by hand (fast shutdown, as `pg_ctl stop` does): it says so and exits 1.
    process.kill(postgres, 'SIGINT');
    await waitFor('the embedded server gone', () => !alive(postgres), 30_000, 50);
    expect(await first.exited).toBe(1);
    expect(first.output()).toContain('the embedded PostgreSQL stopped under this aggregator');

    // The data directory is free again: a new start takes it.
    const next = await spawnAggregator(env);
    cleanups.push(() => next.kill('SIGKILL'));
    await next.waitReady(90_000);
    next.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 240_000);
});
