/**
 * Workers, replicas and deduplication on a real database: the seed report's guarantees, under
 * more concurrency than it had.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import type { Stats } from '../../src/api/contract';
import { type TestAggregator, makeEvent, startTestAggregator } from '../support/harness';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
}, 30_000);

/** `replicas` in-process aggregators sharing one fresh database. */
async function replicas(count: number, env: Record<string, string> = {}): Promise<{ db: TestDatabase; nodes: TestAggregator[] }> {
  const db = await createTestDatabase('proc');
  const nodes: TestAggregator[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startTestAggregator(env, db));
  cleanups.push(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await db.drop();
  });
  return { db, nodes };
}

function expectInvariant(stats: Stats) {
  expect(stats.received).toBe(stats.unique_processed + stats.duplicate_dropped + stats.pending);
}

/** Events with `dupRate` of them re-sending an earlier (topic, event_id) byte for byte. */
function workload(total: number, dupRate: number, topics: number, prefix: string) {
  const unique = Math.round(total * (1 - dupRate));
  const events = Array.from({ length: unique }, (_, i) => makeEvent({ topic: `${prefix}-${i % topics}`, event_id: `${prefix}-${i}` }));
  for (let i = unique; i < total; i++) events.push(events[(i * 7919) % unique]!);
  // Deterministic shuffle so duplicates land in other requests than their originals.
  for (let i = events.length - 1; i > 0; i--) {
    const j = (i * 104729) % (i + 1);
    [events[i], events[j]] = [events[j]!, events[i]!];
  }
  return { events, unique, duplicates: total - unique };
}

async function publishAll(nodes: TestAggregator[], events: unknown[], batch: number, concurrency: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      for (;;) {
        const start = next;
        next += batch;
        if (start >= events.length) return;
        const response = await nodes[(lane + start) % nodes.length]!.publish(events.slice(start, start + batch));
        expect(response.status).toBe(202);
      }
    }),
  );
}

describe('processing', () => {
  test('a worker processes received events, readable in publish order', async () => {
    const { nodes } = await replicas(1);
    const [node] = nodes;
    const events = Array.from({ length: 30 }, (_, i) => makeEvent({ topic: 'single', event_id: `s-${i}` }));
    expect((await node!.publish(events)).status).toBe(202);
    const stats = await node!.drained();
    expect(stats).toMatchObject({ received: 30, unique_processed: 30, duplicate_dropped: 0, pending: 0, topics: ['single'] });
    const page = (await (await node!.request('/events?topic=single&limit=1000')).json()) as {
      events: { seq: number; event_id: string }[];
      next_after: number;
    };
    expect(page.events.map((e) => e.event_id)).toEqual(events.map((e) => e.event_id as string));
    expect(page.next_after).toBe(page.events.at(-1)!.seq);
  }, 30_000);

  test('20,000 events with 30% duplicates across 3 replicas x 3 workers: exactly 14,000 unique, 6,000 duplicates', async () => {
    const { db, nodes } = await replicas(3, { WORKERS: '3', BATCH_SIZE: '500' });
    const { events, unique, duplicates } = workload(20_000, 0.3, 8, 'seed');
    expect(unique).toBe(14_000);
    await publishAll(nodes, events, 50, 8);
    const stats = await nodes[0]!.drained(60_000);
    expect(stats).toMatchObject({ received: 20_000, unique_processed: unique, duplicate_dropped: duplicates, pending: 0 });
    expect(stats.topics).toEqual(Array.from({ length: 8 }, (_, i) => `seed-${i}`));
    // Nothing applied twice or lost: the table holds exactly the unique keys.
    const sql = postgres(db.url, { max: 1 });
    const [row] = await sql`SELECT count(*)::int AS n, count(DISTINCT (topic, event_id))::int AS keys FROM events`;
    const [inbox] = await sql`SELECT count(*)::int AS n FROM inbox`;
    await sql.end();
    expect(row).toEqual({ n: unique, keys: unique });
    expect(inbox!.n).toBe(0);
  }, 120_000);

  test('the same event published concurrently by 40 clients is stored once, 39 counted as duplicates', async () => {
    const { nodes } = await replicas(2, { WORKERS: '4' });
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => nodes[i % 2]!.publish(makeEvent({ topic: 'race', event_id: 'same', payload: { copy: i } }))),
    );
    expect(responses.every((r) => r.status === 202)).toBe(true);
    const stats = await nodes[0]!.drained();
    expect(stats).toMatchObject({ received: 40, unique_processed: 1, duplicate_dropped: 39 });
  }, 30_000);

  test('the first acknowledged copy is the one stored, even when later copies are applied by other workers', async () => {
    const db = await createTestDatabase('first');
    // Build a backlog with no workers, so every copy waits and the workers race for them later.
    const publisher = await startTestAggregator({ WORKERS: '0' }, db);
    const keys = 300;
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: keys }, (_, k) => makeEvent({ topic: `first-${k % 6}`, event_id: `k-${k}`, payload: { round } }));
      // Interleave unrelated events so copies of a key sit in different inbox rows and batches.
      batch.push(...Array.from({ length: 200 }, (_, i) => makeEvent({ topic: `first-${i % 6}`, event_id: `filler-${round}-${i}` })));
      for (let i = 0; i < batch.length; i += 25) expect((await publisher.publish(batch.slice(i, i + 25))).status).toBe(202);
    }
    const workers = [];
    for (let i = 0; i < 3; i++) workers.push(await startTestAggregator({ WORKERS: '4', BATCH_SIZE: '40' }, db));
    const stats = await workers[0]!.drained(60_000);
    expect(stats).toMatchObject({ unique_processed: keys + 600, duplicate_dropped: keys * 2, pending: 0 });
    const sql = postgres(db.url, { max: 1 });
    const rounds = await sql`SELECT (payload->>'round')::int AS round, count(*)::int AS n FROM events WHERE event_id LIKE 'k-%' GROUP BY 1`;
    await sql.end();
    expect([...rounds]).toEqual([{ round: 0, n: keys }]);
    for (const node of [publisher, ...workers]) await node.close();
    await db.drop();
  }, 120_000);

  test('every /stats response during concurrent load satisfies the invariant', async () => {
    const { nodes } = await replicas(2, { WORKERS: '2', BATCH_SIZE: '200' });
    const { events } = workload(8_000, 0.37, 4, 'inv');
    let loading = true;
    let samples = 0;
    const sampler = (async () => {
      while (loading) {
        expectInvariant(await nodes[samples % 2]!.stats());
        samples++;
      }
    })();
    await publishAll(nodes, events, 50, 6);
    await nodes[0]!.drained();
    loading = false;
    await sampler;
    // Many samples were taken while the load ran (dozens here); a loaded machine takes fewer.
    expect(samples).toBeGreaterThan(5);
    const final = await nodes[1]!.stats();
    expectInvariant(final);
    expect(final.received).toBe(8_000);
  }, 60_000);

  test('paging with after=next_after during concurrent writes ends with exactly the final set: no gap, no repeat', async () => {
    const { nodes } = await replicas(3, { WORKERS: '3', BATCH_SIZE: '100' });
    const { events } = workload(9_000, 0.2, 3, 'page');
    const seen = new Map<string, { seq: number; event_id: string }[]>();
    let loading = true;
    const readers = ['page-0', 'page-1', 'page-2'].map(async (topic) => {
      const collected: { seq: number; event_id: string }[] = [];
      seen.set(topic, collected);
      let after: number | null = null;
      let quietAfterLoad = 0;
      while (quietAfterLoad < 2) {
        const query: string = `/events?topic=${topic}&limit=137${after === null ? '' : `&after=${after}`}`;
        const page = (await (await nodes[collected.length % 3]!.request(query)).json()) as {
          events: { seq: number; event_id: string }[];
          next_after: number | null;
        };
        collected.push(...page.events);
        after = page.next_after;
        if (!loading && page.events.length === 0) quietAfterLoad++;
      }
    });
    await publishAll(nodes, events, 50, 6);
    await nodes[0]!.drained(60_000);
    loading = false;
    await Promise.all(readers);

    for (const [topic, collected] of seen) {
      const seqs = collected.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      // The final set, read in one go after everything settled.
      const final: { seq: number; event_id: string }[] = [];
      let after = 0;
      for (;;) {
        const page = (await (await nodes[0]!.request(`/events?topic=${topic}&limit=1000&after=${after}`)).json()) as {
          events: { seq: number; event_id: string }[];
          next_after: number;
        };
        if (page.events.length === 0) break;
        final.push(...page.events);
        after = page.next_after;
      }
      expect(collected.map((e) => e.event_id)).toEqual(final.map((e) => e.event_id));
      expect(final.length).toBeGreaterThan(1000);
    }
  }, 120_000);

  test('a restart on the same database keeps stats and events unchanged', async () => {
    const db = await createTestDatabase('restart');
    const first = await startTestAggregator({}, db);
    const { events } = workload(500, 0.3, 2, 'rs');
    await publishAll([first], events, 50, 2);
    const before = await first.drained();
    const pageBefore = await (await first.request('/events?topic=rs-0&limit=1000')).text();
    await first.close();

    const second = await startTestAggregator({}, db);
    const after = await second.stats();
    expect({ ...after, uptime: 0 }).toEqual({ ...before, uptime: 0 });
    expect(await (await second.request('/events?topic=rs-0&limit=1000')).text()).toBe(pageBefore);
    // And it keeps deduplicating against what was stored before the restart.
    expect((await second.publish(events.slice(0, 50))).status).toBe(202);
    const final = await second.drained();
    expect(final.unique_processed).toBe(before.unique_processed);
    expect(final.duplicate_dropped).toBe(before.duplicate_dropped + 50);
    await second.close();
    await db.drop();
  }, 60_000);
});
