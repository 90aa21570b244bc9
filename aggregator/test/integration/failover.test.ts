/**
 * HA on one primary (docs/SCALING.md): a primary and a synchronous streaming standby (two
 * embedded servers), an aggregator publishing under load; the primary crashes (immediate
 * shutdown), the standby is promoted, and the aggregator is restarted with the new DATABASE_URL,
 * as a failover with a changed endpoint (or a CloudNativePG -rw Service) does. Every event
 * acknowledged before the crash is on the new primary, every event is stored once, new seqs
 * continue above every seq the old primary handed out, and readers page gap-free through it.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { expectExactlyOnce, readTopic, type TestEvent, waitDrained, waitFor, workload } from '../support/faults';
import { RetryingClient } from '../support/retrying-client';
import { startStreamingDatabase } from '../support/streaming-database';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

const DATABASE = 'logbus_ha';
const ENV = { WORKERS: '2', LOG_LEVEL: 'warn' };

async function startAggregator(url: string): Promise<AggregatorProcess> {
  const proc = await spawnAggregator({ ...ENV, DATABASE_URL: url });
  cleanups.push(async () => {
    proc.kill('SIGKILL');
    await proc.exited;
  });
  await proc.waitReady(60_000);
  return proc;
}

describe('failover to a promoted synchronous standby', () => {
  test('every acknowledged event kept, seqs continue above the old ones, readers page gap-free', async () => {
    const { pair, primaryUrl: oldUrl, standbyUrl: newUrl } = await startStreamingDatabase(DATABASE);
    cleanups.push(() => pair.destroy());

    let aggregator = await startAggregator(oldUrl);
    let current = aggregator.url;
    const client = new RetryingClient(() => [current], { deadlineMs: 120_000 });
    const { events, keys } = workload(12_000, 0.2, 4, 'ha');
    const batches: TestEvent[][] = [];
    for (let i = 0; i < events.length; i += 100) batches.push(events.slice(i, i + 100));
    const acknowledgedBeforeCrash = new Set<string>();
    let crashed = false;
    let next = 0;
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < batches.length) {
          const batch = batches[next++]!;
          await client.publish(batch);
          if (!crashed) for (const e of batch) acknowledgedBeforeCrash.add(`${e.topic}/${e.event_id}`);
        }
      }),
    );
    await waitFor('a third of the load acknowledged', () => acknowledgedBeforeCrash.size >= keys.size / 3, 90_000, 10);

    await pair.crashPrimary();
    crashed = true;
    const keptAtCrash = acknowledgedBeforeCrash.size;
    aggregator.kill('SIGKILL');
    await aggregator.exited;

    await pair.promoteStandby();
    aggregator = await startAggregator(newUrl);
    current = aggregator.url;
    await load;
    await waitDrained(current, 120_000);

    // Positive control: the crash came mid-load, with acknowledged events behind it.
    expect(keptAtCrash).toBeGreaterThan(0);
    expect(keptAtCrash).toBeLessThan(keys.size);
    const sql = postgres(newUrl, { max: 1, onnotice: () => {} });
    try {
      const stored = await sql<{ key: string }[]>`SELECT topic || '/' || event_id AS key FROM events`;
      const storedKeys = new Set(stored.map((r) => r.key));
      const lost = [...acknowledgedBeforeCrash].filter((key) => !storedKeys.has(key));
      expect({ lost: lost.length, firstLost: lost.slice(0, 3) }).toEqual({ lost: 0, firstLost: [] });
      await expectExactlyOnce(newUrl, keys);

      // Seqs drawn after the failover continue above every acknowledged event's seq of the old
      // primary. (Not above every value it handed out: a nextval whose WAL never reached the
      // standby, in a transaction that never committed, may be handed out again; no event has it.)
      const acknowledged = [...acknowledgedBeforeCrash];
      const [old] = await sql<{ high: string }[]>`
        SELECT max(seq) AS high FROM events WHERE topic || '/' || event_id = ANY(${acknowledged}::text[])`;
      const lastOldSeq = Number(old!.high);
      const after = Array.from({ length: 20 }, (_, i) => ({
        topic: 'ha-after',
        event_id: `after-${i}`,
        timestamp: '2026-01-01T00:00:00Z',
        source: 'test',
        payload: { i },
      }));
      await client.publish(after);
      await waitDrained(current, 60_000);
      const [fresh] = await sql<{ low: string; n: number }[]>`SELECT min(seq) AS low, count(*)::int AS n FROM events WHERE topic = 'ha-after'`;
      expect(fresh!.n).toBe(20);
      expect(Number(fresh!.low)).toBeGreaterThan(lastOldSeq);
      const [distinct] = await sql<{ all: number; seqs: number }[]>`SELECT count(*)::int AS all, count(DISTINCT seq)::int AS seqs FROM events`;
      expect(distinct!.seqs).toBe(distinct!.all);
    } finally {
      await sql.end();
    }

    // The horizon on the new primary: readers get every event of a topic, in seq order, once.
    for (const topic of ['ha-0', 'ha-after']) {
      const read = await readTopic(current, topic);
      const expected = topic === 'ha-after' ? 20 : [...keys].filter((k) => k.startsWith(`${topic}/`)).length;
      expect(read.length).toBe(expected);
      expect(new Set(read.map((e) => e.event_id)).size).toBe(expected);
      for (let i = 1; i < read.length; i++) expect(read[i]!.seq).toBeGreaterThan(read[i - 1]!.seq);
    }
  }, 300_000);
});
