/**
 * Competing replicas as real processes on one database: a replica SIGKILLed under load loses and
 * doubles nothing and rejoins when respawned, and paging stays gap-free while three processes
 * apply at once.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { Cluster } from '../../local/cluster';
import { expectExactlyOnce, readStats, statusOf, waitDrained, workload } from '../support/faults';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';
import { RetryingClient } from '../support/retrying-client';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

async function startCluster(prefix: string, env: Record<string, string>, restartOnExit = false): Promise<{ db: TestDatabase; cluster: Cluster }> {
  const db = await createTestDatabase(prefix);
  cleanups.push(() => db.drop());
  const cluster = await Cluster.start({ replicas: 3, databaseUrl: db.url, env, restartOnExit });
  cleanups.push(() => cluster.stop());
  return { db, cluster };
}

interface PageItem {
  seq: number;
  event_id: string;
}

async function readPage(url: string, topic: string, after: number | null, limit: number) {
  const query = `topic=${topic}&limit=${limit}${after === null ? '' : `&after=${after}`}`;
  const response = await fetch(`${url}/events?${query}`, { signal: AbortSignal.timeout(10_000) });
  expect(response.status).toBe(200);
  return (await response.json()) as { events: PageItem[]; next_after: number | null };
}

describe('replicas as processes', () => {
  test('SIGKILL of one of 3 replicas mid-load: nothing lost or applied twice; it is respawned, rejoins and applies work', async () => {
    const { db, cluster } = await startCluster('kill9', { WORKERS: '2', BATCH_SIZE: '500' }, true);
    const { events, keys } = workload(24_000, 0.25, 8, 'k9', 64);
    const client = new RetryingClient(() => cluster.urls);
    const victim = cluster.node(1);
    let killedAt = -1;
    await client.publishAll(events, 100, 6, (acknowledged) => {
      // Mid-load: other lanes have requests in flight to the victim and its workers hold batches.
      if (killedAt < 0 && acknowledged >= events.length * 0.3) {
        killedAt = acknowledged;
        victim.kill('SIGKILL');
      }
    });
    expect(killedAt).toBeGreaterThan(0);
    // Requests were refused by the dead replica and retried elsewhere.
    expect(client.counts.networkErrors).toBeGreaterThan(0);
    expect(await victim.exited).not.toBe(0);
    expect(victim.proc.signalCode).toBe('SIGKILL');
    // Every event was acknowledged in the end, some only after a retry elsewhere.
    expect(client.counts.acknowledged).toBe(events.length / 100);

    const respawned = await cluster.respawned(1, victim);
    expect(respawned.pid).not.toBe(victim.pid);
    expect(await statusOf(`${cluster.urls[1]}/ready`)).toBe(200);
    await waitDrained(cluster.urls[0]!);
    await expectExactlyOnce(db.url, keys);

    // The respawned replica alone: the others drain and exit 0, it takes publishes and applies them.
    expect(await Promise.all([cluster.retire(0), cluster.retire(2)])).toEqual([0, 0]);
    const more = workload(2_000, 0.1, 4, 'k9-after', 16);
    const alone = new RetryingClient(() => [cluster.urls[1]!]);
    await alone.publishAll(more.events, 200, 2);
    await waitDrained(cluster.urls[1]!, 30_000);
    await expectExactlyOnce(db.url, new Set([...keys, ...more.keys]));
    const stats = await readStats(cluster.urls[1]!);
    expect(stats.received).toBe(stats.unique_processed + stats.duplicate_dropped);
  }, 120_000);

  test('paging with after=next_after across 3 replica processes applying at once ends with exactly the final set', async () => {
    const { db, cluster } = await startCluster('paging', { WORKERS: '2', BATCH_SIZE: '100' });
    const { events, keys } = workload(12_000, 0.2, 3, 'pg');
    const client = new RetryingClient(() => cluster.urls);
    let loading = true;
    const collected = new Map<string, PageItem[]>();
    const readers = ['pg-0', 'pg-1', 'pg-2'].map(async (topic, r) => {
      const seen: PageItem[] = [];
      collected.set(topic, seen);
      let after: number | null = null;
      let quietAfterLoad = 0;
      for (let i = r; quietAfterLoad < 2; i++) {
        // Each page from another replica: the no-gap rule is a property of the database, not of a replica.
        const page = await readPage(cluster.urls[i % 3]!, topic, after, 97);
        seen.push(...page.events);
        after = page.next_after;
        if (!loading && page.events.length === 0) quietAfterLoad++;
      }
    });
    await client.publishAll(events, 50, 6);
    await waitDrained(cluster.urls[0]!);
    loading = false;
    await Promise.all(readers);
    await expectExactlyOnce(db.url, keys);

    for (const [topic, seen] of collected) {
      const final: PageItem[] = [];
      let after = 0;
      for (;;) {
        const page = await readPage(cluster.urls[0]!, topic, after, 1000);
        if (page.events.length === 0) break;
        final.push(...page.events);
        after = page.next_after!;
      }
      expect(final.length).toBeGreaterThan(3_000);
      expect(seen.map((e) => e.seq)).toEqual(final.map((e) => e.seq));
      expect(seen.map((e) => e.event_id)).toEqual(final.map((e) => e.event_id));
    }
  }, 120_000);
});
