/**
 * One hot topic applied by many transactions at once (docs/ARCHITECTURE.md "Gap-free paging under parallel apply").
 * Its events spread over every inbox partition, so workers of several replicas apply them in
 * parallel and commit in any order; readers must still never miss or repeat one.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { partitionOf } from '../../src/db/partition';
import { takeDrawerLock } from '../../src/events/horizon';
import { type TestAggregator, makeEvent, startTestAggregator } from '../support/harness';
import { SseReader } from '../support/sse';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function cluster(count: number, env: Record<string, string>, prepare?: (db: TestDatabase) => Promise<void>) {
  const db = await createTestDatabase('hot');
  if (prepare) await prepare(db);
  const nodes: TestAggregator[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startTestAggregator(env, db));
  cleanups.push(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await db.drop();
  });
  return nodes;
}

/**
 * Rows inserted into `table` that match `when` wait, inside their transaction, until the returned
 * function is called: a trigger waits on an advisory lock the test holds.
 */
async function holdInserts(db: TestDatabase, table: 'events' | 'inbox', when: string): Promise<() => Promise<void>> {
  const admin = postgres(db.url, { max: 1, onnotice: () => {} });
  cleanups.push(() => admin.end());
  await admin.unsafe(`
    CREATE FUNCTION hold_${table}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242); RETURN NULL; END $$;
    CREATE TRIGGER hold_${table} AFTER INSERT ON ${table} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION hold_${table}();
  `);
  const gate = await admin.reserve();
  await gate`SELECT pg_advisory_lock(4242)`;
  return async () => {
    await gate`SELECT pg_advisory_unlock(4242)`;
    gate.release();
  };
}

interface Item {
  seq: number;
  event_id: string;
}

/** Pages with after=next_after until `stop()` and a page comes back empty twice. */
async function pageThrough(node: TestAggregator, topic: string, stop: () => boolean, pages: Item[][] = []): Promise<Item[]> {
  const collected: Item[] = [];
  let after = 0;
  let quiet = 0;
  while (quiet < 2) {
    const page = (await (await node.request(`/events?topic=${topic}&limit=173&after=${after}`)).json()) as { events: Item[]; next_after: number };
    pages.push(page.events);
    collected.push(...page.events);
    after = page.next_after;
    if (stop() && page.events.length === 0) quiet++;
  }
  return collected;
}

/** Reads a subscription until `count` events arrived. */
async function subscribeAll(node: TestAggregator, topic: string, count: number): Promise<Item[]> {
  const response = await node.request(`/subscribe?topic=${topic}&after=0`);
  expect(response.status).toBe(200);
  const reader = new SseReader(response);
  cleanups.push(() => reader.cancel());
  const items: Item[] = [];
  while (items.length < count) {
    const message = await reader.nextEvent(30_000);
    if (message === null) throw new Error(`stream ended after ${items.length} of ${count} events`);
    items.push(JSON.parse(message.data!) as Item);
  }
  return items;
}

async function finalSet(node: TestAggregator, topic: string): Promise<Item[]> {
  const items: Item[] = [];
  let after = 0;
  for (;;) {
    const page = (await (await node.request(`/events?topic=${topic}&limit=1000&after=${after}`)).json()) as { events: Item[]; next_after: number };
    if (page.events.length === 0) return items;
    items.push(...page.events);
    after = page.next_after;
  }
}

describe('one hot topic', () => {
  test('a transaction that commits last with the lowest seq holds readers back, and they then get everything once, in order', async () => {
    // Applying the event "slow" waits inside the apply transaction until the test lets it go
    // (an advisory lock the test holds): later events of the same topic, in other partitions,
    // are applied and committed meanwhile (out of seq order).
    let letGo: (() => Promise<void>) | null = null;
    const nodes = await cluster(1, { WORKERS: '4' }, async (db) => {
      letGo = await holdInserts(db, 'events', "NEW.event_id = 'slow'");
    });
    const [node] = nodes;
    const slowPart = partitionOf('hot', 'slow');
    const others = Array.from({ length: 60 }, (_, i) => `o-${i}`).filter((id) => partitionOf('hot', id) !== slowPart);
    // The topic exists first: the first batches of a new topic wait for the one that creates
    // its `topics` row to commit.
    expect((await node!.publish([makeEvent({ topic: 'hot', event_id: 'first' })])).status).toBe(202);
    await node!.drained();
    // Read once before: a horizon sealed while no long transaction ran covers "first".
    expect((await finalSet(node!, 'hot')).map((e) => e.event_id)).toEqual(['first']);
    const subscriber = subscribeAll(node!, 'hot', others.length + 2);

    expect((await node!.publish([makeEvent({ topic: 'hot', event_id: 'slow' })])).status).toBe(202);
    for (const id of others) expect((await node!.publish([makeEvent({ topic: 'hot', event_id: id })])).status).toBe(202);

    // The other events are stored while "slow", acknowledged first, is still being applied...
    const deadline = Date.now() + 30_000;
    let stats = await node!.stats();
    while (stats.unique_processed < others.length + 1 && Date.now() < deadline) stats = await node!.stats();
    expect(stats.unique_processed).toBe(others.length + 1);
    expect(stats.pending).toBe(1);
    // ...and a reader sees none of them yet: the horizon stops below "slow".
    const held = (await (await node!.request('/events?topic=hot&after=0')).json()) as { events: Item[]; next_after: number };
    expect(held.events.map((e) => e.event_id)).toEqual(['first']);

    await letGo!();
    await node!.drained(20_000);
    const expected = ['first', 'slow', ...others];
    expect((await finalSet(node!, 'hot')).map((e) => e.event_id)).toEqual(expected);
    expect((await subscriber).map((e) => e.event_id)).toEqual(expected);
  }, 60_000);

  test('a paging reader and a subscriber through a hot-topic load on 3 replicas x 4 workers end with exactly the final set, in order', async () => {
    const nodes = await cluster(3, { WORKERS: '4', BATCH_SIZE: '200' });
    const total = 24_000;
    const unique = 18_000;
    const events = Array.from({ length: unique }, (_, i) => makeEvent({ topic: 'hot', event_id: `h-${i}`, payload: { i } }));
    for (let i = unique; i < total; i++) events.push(events[(i * 7919) % unique]!);
    for (let i = events.length - 1; i > 0; i--) {
      const j = (i * 104729) % (i + 1);
      [events[i], events[j]] = [events[j]!, events[i]!];
    }

    let loading = true;
    const pages: Item[][] = [];
    const reader = pageThrough(nodes[1]!, 'hot', () => !loading, pages);
    const subscriber = subscribeAll(nodes[2]!, 'hot', unique);
    let next = 0;
    const sentByLane: string[][] = Array.from({ length: 8 }, () => []);
    await Promise.all(
      Array.from({ length: 8 }, async (_, lane) => {
        for (;;) {
          const start = next;
          next += 50;
          if (start >= events.length) return;
          const batch = events.slice(start, start + 50);
          expect((await nodes[lane % 3]!.publish(batch)).status).toBe(202);
          sentByLane[lane]!.push(...batch.map((e) => e.event_id as string));
        }
      }),
    );
    const stats = await nodes[0]!.drained(60_000);
    loading = false;
    expect(stats).toMatchObject({ received: total, unique_processed: unique, duplicate_dropped: total - unique, pending: 0 });

    const final = await finalSet(nodes[0]!, 'hot');
    expect(final).toHaveLength(unique);
    const seqs = final.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // Seq follows acknowledgement order: a lane sent each request after the previous one was
    // acknowledged, so its events (those sent once only: no other copy could win) are in order.
    const order = new Map(final.map((e, i) => [e.event_id, i]));
    const copies = new Map<string, number>();
    for (const event of events) copies.set(event.event_id as string, (copies.get(event.event_id as string) ?? 0) + 1);
    for (const sent of sentByLane) {
      const positions = sent.filter((id) => copies.get(id) === 1).map((id) => order.get(id)!);
      expect(positions.length).toBeGreaterThan(100);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    }

    const paged = await reader;
    expect(paged.map((e) => e.event_id)).toEqual(final.map((e) => e.event_id));
    // The reader ran through the load, not only after it.
    expect(pages.filter((page) => page.length > 0).length).toBeGreaterThan(5);
    expect((await subscriber).map((e) => e.event_id)).toEqual(final.map((e) => e.event_id));
  }, 120_000);

  test('a transaction that drew a seq and has not ended holds readers back, though later events are applied', async () => {
    // What an ingest does before it commits (ingest/enqueue.ts): take the drawer lock and a
    // transaction id, draw a seq. Its inbox row, had it written one, would be invisible to every reader: only the
    // sealed seqs (horizon.ts) keep the later events back. Done by hand, so nothing waits on a
    // lock or a statement timeout meanwhile.
    let drawer: postgres.ReservedSql | null = null;
    const nodes = await cluster(1, { WORKERS: '2' }, async (db) => {
      const admin = postgres(db.url, { max: 1, onnotice: () => {} });
      cleanups.push(() => admin.end());
      drawer = await admin.reserve();
    });
    const [node] = nodes;
    expect((await node!.publish([makeEvent({ topic: 'pending', event_id: 'first' })])).status).toBe(202);
    await node!.drained();
    // Read once before: a horizon sealed while no transaction was open covers "first".
    expect((await finalSet(node!, 'pending')).map((e) => e.event_id)).toEqual(['first']);
    await drawer!`BEGIN`;
    await drawer!`SELECT ${takeDrawerLock(drawer!)}, pg_current_xact_id()`;
    const [{ drawn }] = (await drawer!`SELECT nextval('events_seq')::int8 AS drawn`) as unknown as [{ drawn: string }];
    const later = ['l-0', 'l-1', 'l-2'];
    for (const id of later) expect((await node!.publish([makeEvent({ topic: 'pending', event_id: id })])).status).toBe(202);
    await node!.drained();
    // Positive control: the later events are stored, with seqs above the one drawn.
    const stored = await node!.aggregator.sql<
      { event_id: string; seq: string }[]
    >`SELECT event_id, seq FROM events WHERE topic = 'pending' ORDER BY seq`;
    expect(stored.map((row) => row.event_id)).toEqual(['first', ...later]);
    for (const row of stored.slice(1)) expect(Number(row.seq)).toBeGreaterThan(Number(drawn));
    const held = (await (await node!.request('/events?topic=pending&after=0')).json()) as { events: Item[] };
    expect(held.events.map((e) => e.event_id)).toEqual(['first']);

    await drawer!`COMMIT`;
    drawer!.release();
    expect((await finalSet(node!, 'pending')).map((e) => e.event_id)).toEqual(['first', ...later]);
  }, 120_000);

  test('a read right after the apply sees every applied event, even while another write transaction is open', async () => {
    // A transaction with an id, open across the read: the horizon's pairs cannot seal until it
    // ends, so the read waits for it (briefly) instead of answering without the new events.
    let other: postgres.ReservedSql | null = null;
    const nodes = await cluster(1, { WORKERS: '2' }, async (db) => {
      const admin = postgres(db.url, { max: 1, onnotice: () => {} });
      cleanups.push(() => admin.end());
      other = await admin.reserve();
    });
    const [node] = nodes;
    await other!`BEGIN`;
    await other!`SELECT pg_current_xact_id()`;
    const ids = Array.from({ length: 20 }, (_, i) => `r-${i}`);
    expect((await node!.publish(ids.map((id) => makeEvent({ topic: 'fresh', event_id: id })))).status).toBe(202);
    await node!.drained();
    const ending = Bun.sleep(300).then(() => other!`COMMIT`);
    const page = (await (await node!.request('/events?topic=fresh&after=0')).json()) as { events: Item[] };
    await ending;
    other!.release();
    expect(page.events.map((e) => e.event_id)).toEqual(ids);
  }, 60_000);
});
