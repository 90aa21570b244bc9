/**
 * A worker's database session killed mid-batch (pg_terminate_backend) while it holds a partition
 * lease and is inside the apply statement: the transaction rolls back, its inbox rows are claimed
 * again, and every event is counted exactly once.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { expectExactlyOnce, readStats, waitDrained, workload } from '../support/faults';
import { startTestAggregator } from '../support/harness';
import { createTestDatabase } from '../support/postgres';
import { spawnAggregator } from '../support/process';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

const KILLS = 3;

describe('worker session terminated mid-batch', () => {
  test('pg_terminate_backend on a worker inside the apply statement: its rows are claimed again and counted exactly once', async () => {
    const db = await createTestDatabase('terminate');
    cleanups.push(() => db.drop());

    // A backlog first (no workers), so the worker process starts with large batches to apply.
    const { events, keys, unique } = workload(60_000, 0.2, 4, 'tb', 200);
    const publisher = await startTestAggregator({ WORKERS: '0' }, db);
    for (let i = 0; i < events.length; i += 5_000) expect((await publisher.publish(events.slice(i, i + 5_000))).status).toBe(202);
    await publisher.close();

    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    cleanups.push(() => admin.end());
    // Large batches: each apply statement runs long enough to be caught in the act.
    const worker = await spawnAggregator({ DATABASE_URL: db.url, WORKERS: '2', BATCH_SIZE: '10000' });
    cleanups.push(async () => worker.kill('SIGKILL'));
    await worker.waitReady();

    const killed: { pid: number; part: string }[] = [];
    const deadline = Date.now() + 30_000;
    while (killed.length < KILLS && Date.now() < deadline) {
      // A session of ours, running the apply statement, inside a transaction holding a lease.
      const [victim] = await admin<{ pid: number; locks: string }[]>`
        SELECT a.pid, string_agg(l.mode, ',') AS locks
        FROM pg_stat_activity AS a
        JOIN pg_locks AS l ON l.pid = a.pid AND l.relation = 'inbox_partitions'::regclass
        WHERE a.application_name = 'logbus-aggregator'
          AND a.datname = current_database()
          AND a.state = 'active'
          AND a.query LIKE '%DELETE FROM inbox%'
        GROUP BY a.pid
        LIMIT 1
      `;
      if (victim) {
        const [done] = await admin<{ ok: boolean }[]>`SELECT pg_terminate_backend(${victim.pid}) AS ok`;
        if (done!.ok) killed.push({ pid: victim.pid, part: victim.locks });
        await Bun.sleep(200);
      } else {
        await Bun.sleep(5);
      }
    }
    expect(killed.length).toBe(KILLS);

    const stats = await waitDrained(worker.url, 60_000);
    // Each event was received once; every one is either the stored copy or a counted duplicate,
    // and the killed batches were neither lost nor counted twice.
    expect(stats).toMatchObject({ received: events.length, unique_processed: unique, duplicate_dropped: events.length - unique, pending: 0 });
    await expectExactlyOnce(db.url, keys);

    // The worker noticed, backed off and carried on in the same process.
    expect(worker.proc.exitCode).toBeNull();
    const failures = worker.output().split('\n').filter((line) => line.includes('worker batch failed'));
    expect(failures.length).toBeGreaterThanOrEqual(KILLS);
    // postgres.js reports the terminated session as a closed connection (or 57P01 when it read the notice).
    for (const line of failures) expect(line).toMatch(/CONNECTION_CLOSED|57P01|ECONNRESET/);
    expect((await readStats(worker.url)).pending).toBe(0);
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 120_000);
});
