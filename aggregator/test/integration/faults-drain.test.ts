/**
 * SIGTERM under load, as a real process: readiness fails at once, requests already inside and
 * batches already claimed complete, the process exits 0 within DRAIN_TIMEOUT_MS, and no lease
 * survives it.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { expectExactlyOnce, leasedPartitions, statusOf, waitDrained, waitFor, workload } from '../support/faults';
import { startTestAggregator } from '../support/harness';
import { createTestDatabase } from '../../local/postgres';
import { spawnAggregator } from '../../local/process';
import { RetryingClient } from '../support/retrying-client';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

const DRAIN_TIMEOUT_MS = 10_000;

describe('SIGTERM drain', () => {
  test('idle workers stop at once on drain and all wake on a local commit (every waiter, not every other one)', async () => {
    const node = await startTestAggregator({ WORKERS: '4' });
    cleanups.push(() => node.close());
    // Let all four loops find the inbox empty and go to sleep for the idle poll (2 s).
    await Bun.sleep(300);
    const woken: number[] = [];
    const wakeup = (node.aggregator.pool as unknown as { wakeup: { wait(ms: number): Promise<void>; wakeLocal(): void } }).wakeup;
    const sleepers = [0, 1, 2, 3].map((i) => wakeup.wait(5_000).then(() => void woken.push(i)));
    wakeup.wakeLocal();
    // The race ends as soon as all four wake; 4 s is far above a slow machine's latency and
    // short of the waits' own 5 s, so a waiter left asleep fails it.
    await Promise.race([Promise.all(sleepers), Bun.sleep(4_000)]);
    expect(woken.sort()).toEqual([0, 1, 2, 3]);
    const started = performance.now();
    await node.aggregator.pool.drain();
    // Below the 2 s idle poll (workers/pool.ts) that a loop missed by the drain would sleep out;
    // a loaded machine gets 1.5 s for what takes a few ms here.
    expect(performance.now() - started).toBeLessThan(1_500);
  }, 30_000);

  test('a /ready check that began before the drain answers 503 when it ends after it', async () => {
    // Two pool connections, both busy: the readiness ping waits for one, and the drain begins meanwhile.
    const node = await startTestAggregator({ WORKERS: '0', DB_POOL_SIZE: '2' });
    cleanups.push(() => node.close());
    const busy = [node.aggregator.sql`SELECT pg_sleep(0.5)`.execute(), node.aggregator.sql`SELECT pg_sleep(0.5)`.execute()];
    await Bun.sleep(50);
    const ready = node.request('/ready');
    await Bun.sleep(50);
    node.aggregator.lifecycle.draining = true;
    await Promise.all(busy);
    const response = await ready;
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ draining: true });
  }, 30_000);

  test('under load: /ready 503 at once, in-flight publishes and batches complete, exit 0 in time, no partition left leased', async () => {
    const db = await createTestDatabase('drain');
    cleanups.push(() => db.drop());
    // A backlog first, written without workers, so the process under test starts with large
    // batches to apply and the signal can land while one is inside the apply statement.
    const backlog = workload(60_000, 0.1, 16, 'dr', 32);
    const writer = await startTestAggregator({ WORKERS: '0' }, db);
    for (let i = 0; i < backlog.events.length; i += 5_000) expect((await writer.publish(backlog.events.slice(i, i + 5_000))).status).toBe(202);
    await writer.close();

    const env = { DATABASE_URL: db.url, WORKERS: '2', BATCH_SIZE: '20000', DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS) };
    const agg = await spawnAggregator(env);
    cleanups.push(async () => agg.kill('SIGKILL'));
    await agg.waitReady();
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    cleanups.push(() => admin.end());
    await waitFor(
      'a worker inside the apply statement',
      async () => {
        const [row] = await admin<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = 'logbus-aggregator' AND datname = current_database()
            AND state = 'active' AND query LIKE '%DELETE FROM inbox%'
        `;
        return row!.n > 0;
      },
      20_000,
      5,
    );

    // Big requests still on the wire when the signal arrives: each ends 202 (it was inside and
    // finished), 503 (it arrived while draining) or as a network error (after the listener closed).
    const inflight = workload(8 * 2_500, 0, 4, 'dr-late', 256);
    const outcomes = Array.from({ length: 8 }, (_, i) => {
      const events = inflight.events.slice(i * 2_500, (i + 1) * 2_500);
      return fetch(`${agg.url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) }).then(
        async (response) => ({ status: response.status as number | 'network', events, body: await response.text() }),
        () => ({ status: 'network' as const, events, body: '' }),
      );
    });
    // Two requests certainly inside when the signal arrives: their handlers are already reading
    // the body, whose second half is sent only after SIGTERM. They must finish with 202.
    const held = workload(2 * 500, 0, 2, 'dr-held', 64);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const heldOutcomes = [0, 1].map((i) => {
      const text = JSON.stringify(held.events.slice(i * 500, (i + 1) * 500));
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode(text.slice(0, text.length / 2)));
          await released;
          controller.enqueue(new TextEncoder().encode(text.slice(text.length / 2)));
          controller.close();
        },
      });
      return fetch(`${agg.url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status);
    });
    await Bun.sleep(100);
    const signalledAt = performance.now();
    agg.kill('SIGTERM');
    setTimeout(release, 300);

    // Readiness flips at once: probes sent every 25 ms without waiting for each other must show
    // 503 well before the drain could time out (3 s: generous for a loaded machine, where a
    // probe alone can take hundreds of ms), and no 200 may follow the first 503 (a check that
    // began before the drain must not answer 200 after it).
    const probes: { sentMs: number; doneMs: number; status: number | 'network' }[] = [];
    const probing = (async () => {
      const pending: Promise<void>[] = [];
      while (agg.proc.exitCode === null && performance.now() - signalledAt < 5_000) {
        const sentMs = performance.now() - signalledAt;
        pending.push(statusOf(`${agg.url}/ready`).then((status) => void probes.push({ sentMs, doneMs: performance.now() - signalledAt, status })));
        await Bun.sleep(25);
      }
      await Promise.all(pending);
    })();
    const code = await agg.exited;
    const exitedAfterMs = performance.now() - signalledAt;
    expect(code).toBe(0);
    // Exit 0 already says the drain finished inside DRAIN_TIMEOUT_MS (a timed-out drain exits 1);
    // this only catches a process that hangs after it.
    expect(exitedAfterMs).toBeLessThan(DRAIN_TIMEOUT_MS + 10_000);
    expect(agg.output()).toContain('drained; exiting');

    await probing;
    probes.sort((a, b) => a.doneMs - b.doneMs);
    const first503 = probes.findIndex((p) => p.status === 503);
    expect(first503).toBeGreaterThanOrEqual(0);
    expect(probes[first503]!.doneMs).toBeLessThan(3_000);
    expect(probes.slice(first503).filter((p) => p.status === 200)).toEqual([]);

    expect(await Promise.all(heldOutcomes)).toEqual([202, 202]);
    const results = await Promise.all(outcomes);
    for (const result of results) expect([202, 503, 'network']).toContain(result.status);

    // The batches being applied at the signal were committed, not cut off and rolled back.
    expect(agg.output()).not.toContain('worker batch failed');
    const [applied] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM events`;
    expect(applied!.n).toBeGreaterThan(0);
    // Nothing leased, no session of ours left behind holding anything.
    expect(await leasedPartitions(db.url)).toEqual([]);
    const [locks] = await admin<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid)
      WHERE a.application_name = 'logbus-aggregator' AND a.datname = current_database()
    `;
    expect(locks!.n).toBe(0);

    // A fresh replica applies what is left: every acknowledged event, once.
    const next = await spawnAggregator({ ...env, BATCH_SIZE: '2000' });
    cleanups.push(async () => next.kill('SIGKILL'));
    await next.waitReady();
    // Requests that failed on the wire may or may not have committed; resend them (at least once).
    const unsure = results.filter((r) => r.status !== 202);
    await new RetryingClient(() => [next.url]).publishAll(
      unsure.flatMap((r) => r.events),
      2_500,
      2,
    );
    await waitDrained(next.url);
    await expectExactlyOnce(db.url, new Set([...backlog.keys, ...inflight.keys, ...held.keys]));
    next.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 90_000);
});
