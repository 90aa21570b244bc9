/**
 * One batch never stalls the rest. A statement-level trigger on `events` makes PostgreSQL fail
 * an apply the way a huge row does (SQLSTATE 57014, what statement_timeout raises) whenever a
 * statement stores more than 8 "heavy" events, and refuses an event whose id starts with "poison" outright. The
 * worker must split the heavy row until its pieces apply, park the poison event (kept, counted
 * as pending, surfaced), and meanwhile keep applying another topic of the same partition.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import postgres from 'postgres';
import { type TestAggregator, idsInPartition, makeEvent, startTestAggregator } from '../support/harness';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';

let db: TestDatabase;
let agg: TestAggregator;

/** The inbox partition every event of this test lands in (its ids are chosen for it). */
const PART = 11;

beforeAll(async () => {
  db = await createTestDatabase('split');
  const admin = postgres(db.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`
    CREATE FUNCTION refuse_big_batches() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (SELECT count(*) FROM stored WHERE topic = 'heavy') > 8 THEN
        RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = 'query_canceled';
      END IF;
      IF EXISTS (SELECT 1 FROM stored WHERE event_id LIKE 'poison%') THEN
        RAISE EXCEPTION 'this event cannot be stored' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER refuse_big_batches AFTER INSERT ON events REFERENCING NEW TABLE AS stored
      FOR EACH STATEMENT EXECUTE FUNCTION refuse_big_batches();
  `);
  await admin.end();
  agg = await startTestAggregator({ WORKERS: '2' }, db);
}, 60_000);

afterAll(async () => {
  await agg.close();
  await db.drop();
}, 30_000);

test('a row that keeps timing out is split and applied; a poison event is parked; its partition neighbours keep flowing', async () => {
  const neighbour = 'neighbour';
  const poison = idsInPartition(PART, 'heavy', 'poison-', 1)[0]!;
  const heavyIds = idsInPartition(PART, 'heavy', 'h-', 100).map((id, i) => (i === 57 ? poison : id));
  // One request, so one inbox row of 100 heavy events (the poison one among them).
  const heavy = heavyIds.map((id) => makeEvent({ topic: 'heavy', event_id: id }));
  expect((await agg.publish(heavy)).status).toBe(202);
  // Another topic's events queue behind that row, in the same partition.
  const neighbourIds = idsInPartition(PART, neighbour, 'n-', 100);
  for (let r = 0; r < 5; r++) {
    const batch = neighbourIds.slice(r * 20, r * 20 + 20).map((id) => makeEvent({ topic: neighbour, event_id: id }));
    expect((await agg.publish(batch)).status).toBe(202);
  }

  // Everything but the poison event is applied; the poison event waits, parked.
  const deadline = Date.now() + 60_000;
  let stats = await agg.stats();
  while (!(stats.pending === 1 && stats.unique_processed === 199) && Date.now() < deadline) {
    await Bun.sleep(50);
    stats = await agg.stats();
  }
  expect(stats).toMatchObject({ received: 200, unique_processed: 199, duplicate_dropped: 0, pending: 1 });
  expect((stats as unknown as { parked: number }).parked).toBe(1);
  expect(stats.received).toBe(stats.unique_processed + stats.duplicate_dropped + stats.pending);

  // Every heavy event except the poison one is stored, in the order it was published.
  const page = (await (await agg.request('/events?topic=heavy&limit=1000')).json()) as { events: { event_id: string }[] };
  expect(page.events.map((e) => e.event_id)).toEqual(heavy.map((e) => e.event_id as string).filter((id) => id !== poison));
  const neighbours = (await (await agg.request(`/events?topic=${neighbour}&limit=1000`)).json()) as { events: unknown[] };
  expect(neighbours.events).toHaveLength(100);

  // The parked event is kept whole, with the reason, and surfaced in the metrics.
  const [parked] = await agg.aggregator.sql`SELECT topic, event_id, error, payload::text AS payload FROM inbox_parked`;
  expect(parked).toMatchObject({ topic: 'heavy', event_id: poison, error: expect.stringContaining('cannot be stored') });
  const metrics = await (await agg.request('/metrics')).text();
  expect(metrics).toContain('logbus_parked_events 1');
  expect(metrics).toContain('logbus_worker_errors_total{kind="parked"} 1');
  expect(metrics).toMatch(/logbus_worker_errors_total\{kind="timeout"\} [1-9]/);
  // Readiness is not affected: the replica keeps serving.
  expect((await agg.request('/ready')).status).toBe(200);
}, 90_000);
