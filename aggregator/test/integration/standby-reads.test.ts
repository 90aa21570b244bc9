/**
 * GET /events read on a hot standby (READ_DATABASE_URL; docs/SCALING.md "Reads from streaming
 * replicas (hot standby)"): two embedded servers, a primary and a standby streaming from it. The
 * case that breaks a naive standby read: an ingest draws seq a and stays open (held by a trigger),
 * a later event b is applied and replayed, the standby's replay is paused, then a commits and is
 * applied on the primary, whose horizon now covers both. The standby sees b and not a: read with
 * the primary's horizon alone it would return b and page past a for good. It must return neither
 * until it has replayed a, then both in seq order. Last, the standby's own statistics show the
 * pages were read there.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { readTopic, waitFor } from '../support/faults';
import { startStreamingDatabase } from '../support/streaming-database';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

const DATABASE = 'logbus_standby_reads';
const TOPIC = 'standby';
const HOLD_KEY = 4243;

const event = (eventId: string) => ({ topic: TOPIC, event_id: eventId, timestamp: '2026-01-01T00:00:00Z', source: 'test', payload: { eventId } });

async function publish(url: string, eventId: string): Promise<number> {
  const response = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([event(eventId)]),
  });
  return response.status;
}

describe('GET /events on a hot standby (READ_DATABASE_URL)', () => {
  test('an event applied on the primary before a lower seq the standby has not replayed is not shown until that seq is', async () => {
    const { pair, primaryUrl, standbyUrl } = await startStreamingDatabase(DATABASE);
    cleanups.push(() => pair.destroy());

    // The held ingest must not be ended as a stuck drawer while the test holds it.
    const aggregator: AggregatorProcess = await spawnAggregator({
      DATABASE_URL: primaryUrl,
      READ_DATABASE_URL: standbyUrl,
      WORKERS: '2',
      DRAWER_TIMEOUT_MS: '600000',
      LOG_LEVEL: 'warn',
    });
    cleanups.push(async () => {
      aggregator.kill('SIGKILL');
      await aggregator.exited;
    });
    await aggregator.waitReady(60_000);

    const primary = postgres(primaryUrl, { max: 2, onnotice: () => {} });
    const standby = postgres(standbyUrl, { max: 1, onnotice: () => {} });
    cleanups.push(() => primary.end());
    cleanups.push(() => standby.end());
    const seqOf = async (sql: postgres.Sql, eventId: string) =>
      (await sql<{ seq: string }[]>`SELECT seq::text AS seq FROM events WHERE topic = ${TOPIC} AND event_id = ${eventId}`)[0]?.seq ?? null;

    // Positive control: reads answer from the standby once it has replayed an event.
    expect(await publish(aggregator.url, 'first')).toBe(202);
    await waitFor('the first event on a standby read', async () => (await readTopic(aggregator.url, TOPIC)).length === 1, 60_000);

    // The ingest of `held` draws its seq and waits inside its transaction on a lock the test holds.
    await primary.unsafe(`
      CREATE FUNCTION hold_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_lock_shared(${HOLD_KEY}); PERFORM pg_advisory_unlock_shared(${HOLD_KEY}); RETURN NULL; END $$;
      CREATE TRIGGER hold_inbox AFTER INSERT ON inbox FOR EACH ROW WHEN (NEW.event_ids[1] = 'held') EXECUTE FUNCTION hold_inbox();`);
    const gate = await primary.reserve();
    await gate`SELECT pg_advisory_lock(${HOLD_KEY})`;
    const heldPublish = publish(aggregator.url, 'held');
    await waitFor('the held ingest waiting on the gate', async () => {
      const [row] = await primary<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ${HOLD_KEY} AND NOT granted`;
      return row!.n > 0;
    });
    expect(await publish(aggregator.url, 'later')).toBe(202);
    await waitFor('`later` applied and replayed on the standby', async () => (await seqOf(standby, 'later')) !== null, 60_000);

    await standby`SELECT pg_wal_replay_pause()`;
    await waitFor(
      'standby replay paused',
      async () => (await standby<{ s: string }[]>`SELECT pg_get_wal_replay_pause_state() AS s`)[0]!.s === 'paused',
    );
    await gate`SELECT pg_advisory_unlock(${HOLD_KEY})`;
    gate.release();
    expect(await heldPublish).toBe(202);
    await waitFor('`held` applied on the primary', async () => (await seqOf(primary, 'held')) !== null, 60_000);

    // Preconditions of the gap: `held` has the lower seq; the standby has `later` and not `held`.
    const heldSeq = Number(await seqOf(primary, 'held'));
    const laterSeq = Number(await seqOf(primary, 'later'));
    expect(heldSeq).toBeLessThan(laterSeq);
    expect(await seqOf(standby, 'later')).not.toBeNull();
    expect(await seqOf(standby, 'held')).toBeNull();

    // The primary's horizon covers both now; the standby has not replayed `held`: not shown, nor `later`.
    for (let i = 0; i < 3; i++) expect((await readTopic(aggregator.url, TOPIC)).map((e) => e.event_id)).toEqual(['first']);

    await standby`SELECT pg_wal_replay_resume()`;
    await waitFor('both events on a standby read after the replay', async () => (await readTopic(aggregator.url, TOPIC)).length === 3, 60_000);
    const read = await readTopic(aggregator.url, TOPIC);
    expect(read.map((e) => e.event_id)).toEqual(['first', 'held', 'later']);
    expect(read.map((e) => e.seq)).toEqual([...read.map((e) => e.seq)].sort((a, b) => a - b));

    // The pages are read on the standby: its own statistics count the rows they fetch (the
    // bound alone would keep a primary read equally short above, so that did not show it).
    const bulk = Array.from({ length: 500 }, (_, i) => ({ ...event(`bulk-${i}`), topic: 'bulk' }));
    const published = await fetch(`${aggregator.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bulk),
    });
    expect(published.status).toBe(202);
    await waitFor('the bulk topic on a standby read', async () => (await readTopic(aggregator.url, 'bulk')).length === 500, 60_000);
    const fetchedOnStandby = async () =>
      Number((await standby<{ n: string }[]>`SELECT tup_fetched::text AS n FROM pg_stat_database WHERE datname = current_database()`)[0]!.n);
    const before = await fetchedOnStandby();
    for (let i = 0; i < 10; i++) expect(await readTopic(aggregator.url, 'bulk')).toHaveLength(500);
    // A backend reports its statistics within seconds of its transactions, not at once.
    await waitFor('the standby counting the 5,000 rows the pages fetched', async () => (await fetchedOnStandby()) - before >= 5_000, 30_000, 250);
  }, 300_000);
});
