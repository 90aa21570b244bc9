/**
 * The read horizon across a change of server (events/horizon.ts `serverKey`): an aggregator stays
 * up while the PostgreSQL at its address is replaced by one whose sequence is behind what its
 * readers were shown (a promoted standby that had fallen behind, a restore from backup; a crash
 * that lost the WAL of the last nextvals does the same on a smaller scale). The new server hands
 * out those seqs again. A horizon that kept the old server's seal would show an event while one
 * below it is still being drawn: readers step over it for good. Without a restart of the
 * aggregator, GET /events and an open /subscribe must see the new events in seq order, none skipped.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { type DedicatedPostgres, startDedicatedPostgres } from '../../local/dedicated-postgres';
import { withDatabase } from '../../local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { migrateDatabase } from '../../src/db/migrate';
import { slowIngestSql, statusOf, waitDrained, waitFor } from '../support/faults';
import { makeEvent } from '../support/harness';
import { collectEventIds, SseReader } from '../support/sse';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

/**
 * POST /publish as a publisher does it: a 503 or 429 (a pooled connection the server change left
 * behind can answer the first statement on it so, nothing drawn) is sent again, a few times.
 */
async function publish(agg: AggregatorProcess, events: object[]): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(`${agg.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    await response.arrayBuffer();
    if ((response.status !== 503 && response.status !== 429) || attempt === 20) return response.status;
    await Bun.sleep(100);
  }
}

async function page(agg: AggregatorProcess, topic: string): Promise<{ seq: number; event_id: string }[]> {
  const response = await fetch(`${agg.url}/events?topic=${topic}&limit=1000`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: { seq: number; event_id: string }[] }).events;
}

describe('the read horizon after the server behind it changes', () => {
  let pg: DedicatedPostgres;

  test('a server whose sequence is behind the old seal: no seq handed out again is stepped over, no restart needed', async () => {
    pg = await startDedicatedPostgres('logbus-horizon-failover-');
    cleanups.push(() => pg.destroy());
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin.unsafe('CREATE DATABASE logbus');
    await admin.end();
    const url = withDatabase(pg.url, 'logbus');
    await migrateDatabase(url);
    const mine = postgres(url, { max: 1, onnotice: () => {} });
    // The ingest statement of 'slow-a' sleeps after its seq is drawn (as a large one would run).
    await mine.unsafe(slowIngestSql('slow-a', 6));
    await mine.end();

    // The drawer timeout far above the trigger's 6 s sleep (long enough for b to be published and
    // applied meanwhile on a loaded machine): nothing here may end the slow drawer.
    const agg = await spawnAggregator({ DATABASE_URL: url, WORKERS: '2', DRAWER_TIMEOUT_MS: '30000', LOG_LEVEL: 'warn' });
    cleanups.push(async () => {
      agg.kill('SIGKILL');
      await agg.exited;
    });
    await agg.waitReady(60_000);
    // The server that will take over: this state (events partitions made by the aggregator's
    // start), before any event. The aggregator stays up through the restart this takes.
    await pg.keepCopy();
    await waitFor('the aggregator ready again', async () => (await statusOf(`${agg.url}/ready`)) === 200, 60_000, 100);
    const before = Array.from({ length: 200 }, (_, i) => makeEvent({ topic: 'before', event_id: `before-${i}` }));
    expect(await publish(agg, before)).toBe(202);
    await waitDrained(agg.url);
    const seen = await page(agg, 'before');
    expect(seen.length).toBe(200);
    // Readers were shown seqs up to here: the horizon sealed at least this much.
    const shownSeq = seen.at(-1)!.seq;

    // A subscription open through the change, from the start of the topic the test then writes.
    const response = await fetch(`${agg.url}/subscribe?topic=after&after=0`);
    expect(response.status).toBe(200);
    const sse = new SseReader(response);
    cleanups.push(() => sse.cancel());
    const streamed = collectEventIds(sse);

    await pg.replaceWithCopy();
    await waitFor('the aggregator ready on the new server', async () => (await statusOf(`${agg.url}/ready`)) === 200, 60_000, 100);

    const probe = postgres(url, { max: 1, onnotice: () => {} });
    cleanups.push(() => probe.end());
    let aDone = false;
    const a = publish(agg, [makeEvent({ topic: 'after', event_id: 'slow-a' })]).then((status) => {
      aDone = true;
      return status;
    });
    await waitFor(
      'slow-a drawn and sleeping',
      async () => {
        const [row] = await probe<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`;
        return row!.n > 0;
      },
      30_000,
      10,
    );
    expect(await publish(agg, [makeEvent({ topic: 'after', event_id: 'slow-b' })])).toBe(202);
    let bSeq = 0;
    await waitFor(
      'slow-b applied',
      async () => {
        const [row] = await probe<{ seq: string | null }[]>`SELECT max(seq)::text AS seq FROM events WHERE event_id = 'slow-b'`;
        bSeq = Number(row!.seq);
        return row!.seq !== null;
      },
      30_000,
      10,
    ).catch(async (error) => {
      const inbox = await probe`SELECT part, id, event_ids, seqs FROM inbox`;
      const sessions = await probe`SELECT pid, state, wait_event, left(query, 80) AS q FROM pg_stat_activity WHERE datname = current_database()`;
      console.log(JSON.stringify({ inbox, sessions }), agg.output().slice(-3000));
      throw error;
    });
    // The precondition: the new server handed out seqs readers were already shown past, and b is
    // applied while a (the lower seq) is still being drawn.
    expect(bSeq).toBeLessThan(shownSeq);
    expect(aDone).toBe(false);
    // Never b alone: a has the lower seq and will commit.
    expect([[], ['slow-a', 'slow-b']]).toContainEqual((await page(agg, 'after')).map((e) => e.event_id));
    expect(streamed).not.toEqual(['slow-b']);

    expect(await a).toBe(202);
    await waitDrained(agg.url);
    await waitFor(
      'both on GET /events and the subscription',
      async () => streamed.length >= 2 && (await page(agg, 'after')).length === 2,
      30_000,
      20,
    );
    expect((await page(agg, 'after')).map((e) => e.event_id)).toEqual(['slow-a', 'slow-b']);
    expect(streamed).toEqual(['slow-a', 'slow-b']);
  }, 180_000);
});
