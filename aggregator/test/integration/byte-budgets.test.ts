/**
 * Every read and claim is bounded by bytes as well as by count: GET /events pages stop at
 * MAX_PAGE_BYTES (but hold at least one event), /subscribe reads at SUBSCRIBE_READ_BYTES, worker
 * claims at CLAIM_BYTES; paging and streaming still deliver every event exactly once, in order.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { SUBSCRIBE_DEFAULTS } from '../../src/subscribe/hub';
import { applyBatch } from '../../src/workers/apply';
import { type TestAggregator, idsInPartition, makeEvent, startTestAggregator } from '../support/harness';
import { waitFor } from '../support/faults';
import { SseReader } from '../support/sse';

let agg: TestAggregator;

/**
 * A table locked (ACCESS EXCLUSIVE) by a transaction of `admin` until `release()`, and how many
 * statements matching a pattern wait for it (`waiting`). `admin` needs two connections:
 * one holds the lock, one looks.
 */
async function lockTable(admin: postgres.Sql, table: 'events' | 'inbox') {
  let unlock = () => {};
  let locked = () => {};
  const held = new Promise<void>((resolve) => (locked = resolve));
  const holding = admin.begin(async (tx) => {
    await tx.unsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    locked();
    await new Promise<void>((resolve) => (unlock = resolve));
  });
  await Promise.race([held, holding]);
  const waiting = async (query: string) =>
    (
      await admin<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE ${query}`
    )[0]!.n;
  const release = async () => {
    unlock();
    await holding.catch(() => {});
  };
  return { waiting, release };
}

// Payload sizes in bytes: small ones, one far over the page budget, more small ones.
const SIZES = [300, 300, 300, 300, 5_000, 300, 300, 300];
const payloadOf = (size: number, i: number) => ({ i, pad: 'x'.repeat(size - `{"i":${i},"pad":""}`.length) });

beforeAll(async () => {
  agg = await startTestAggregator({ MAX_PAGE_BYTES: '1000', SUBSCRIBE_READ_BYTES: '1000' });
  const events = SIZES.map((size, i) => makeEvent({ topic: 'sized', event_id: `s-${i}`, payload: payloadOf(size, i) }));
  expect((await agg.publish(events)).status).toBe(202);
  await agg.drained();
}, 60_000);
afterAll(async () => {
  await agg.close();
}, 30_000);

describe('byte budgets', () => {
  test('GET /events pages stop at MAX_PAGE_BYTES, hold at least one event, and page through everything once', async () => {
    const pages: number[][] = [];
    let after = 0;
    for (;;) {
      const page = (await (await agg.request(`/events?topic=sized&after=${after}&limit=1000`)).json()) as {
        events: { seq: number; payload: { i: number } }[];
        next_after: number;
      };
      if (page.events.length === 0) {
        expect(page.next_after).toBe(after);
        break;
      }
      pages.push(page.events.map((e) => e.payload.i));
      expect(page.next_after).toBe(page.events.at(-1)!.seq);
      after = page.next_after;
    }
    // 300-byte payloads: the event that crosses 1000 bytes is the last of its page (4 per page);
    // the 5000-byte one ends a page too, and a page never comes back empty before the end.
    expect(pages).toEqual([[0, 1, 2, 3], [4], [5, 6, 7]]);
  });

  test('GET /subscribe reads in SUBSCRIBE_READ_BYTES chunks', async () => {
    // The hub's stream pulls one read per chunk (highWaterMark 0), so the chunks are the reads.
    // Read without HTTP in between, which may merge chunks on the wire.
    const subscription = agg.aggregator.subscriptions.open('sized', 0);
    const reader = subscription.stream.getReader();
    try {
      const chunks: number[][] = [];
      for (let seen = 0; seen < SIZES.length; ) {
        const { value } = await reader.read();
        const ids = [...new TextDecoder().decode(value).matchAll(/^data: .*"i":(\d+)/gm)].map((m) => Number(m[1]));
        if (ids.length > 0) chunks.push(ids);
        seen += ids.length;
      }
      // Positive control: a page size (SUBSCRIBE_DEFAULTS.pageSize) would take all of them at once.
      expect(SIZES.length).toBeLessThan(SUBSCRIBE_DEFAULTS.pageSize);
      // The same cuts as GET /events: the event that crosses 1000 bytes ends its read.
      expect(chunks).toEqual([[0, 1, 2, 3], [4], [5, 6, 7]]);
    } finally {
      await reader.cancel();
    }
  });

  test('GET /subscribe with small reads delivers every event once, in order', async () => {
    const reader = new SseReader(await agg.request('/subscribe?topic=sized&after=0'));
    try {
      const seen: number[] = [];
      for (let i = 0; i < SIZES.length; i++) seen.push((JSON.parse((await reader.nextEvent(10_000))!.data!) as { payload: { i: number } }).payload.i);
      expect(seen).toEqual(SIZES.map((_, i) => i));
    } finally {
      await reader.cancel();
    }
  });

  test('READ_BYTES_IN_FLIGHT: a page beyond it waits for the bytes before it takes a connection', async () => {
    const tight = await startTestAggregator({ MAX_PAGE_BYTES: '1000', READ_BYTES_IN_FLIGHT: '1000' }, agg.db);
    const admin = postgres(agg.db.url, { max: 2, onnotice: () => {} });
    const lock = await lockTable(admin, 'events');
    // Reads of the page statement (events/read.ts) stuck behind the lock.
    const blockedReads = () => lock.waiting('%RECURSIVE walk%');
    try {
      const pages = [0, 1].map(() => tight.request('/events?topic=sized&after=0&limit=1000'));
      const budget = tight.aggregator.readBudget;
      // Both reads have gone as far as they can: into the database, or into the budget's queue.
      await waitFor('both pages to be held up', async () => (await blockedReads()) + budget.load.waiting === 2, 20_000);
      // Positive control: the first page is in the database (so the lock holds reads there)...
      expect(await blockedReads()).toBe(1);
      // ...and the second waits for its 1000 bytes, not for PostgreSQL.
      expect(budget.load).toEqual({ active: 1000, waiting: 1 });
      await lock.release();
      for (const page of pages) expect((await page).status).toBe(200);
    } finally {
      await lock.release();
      await admin.end();
      await tight.close();
    }
  }, 60_000);

  test('INGEST_STATEMENT_BYTES: requests over it together go in separate statements', async () => {
    // One inbox row per statement and partition (ingest/enqueue.ts): with every event in one
    // partition, inbox rows count statements. No workers, so rows stay where ingest put them.
    const rowsFor = async (env: Record<string, string>, prefix: string) => {
      const node = await startTestAggregator({ WORKERS: '0', ...env });
      const admin = postgres(node.db.url, { max: 2, onnotice: () => {} });
      // Holding the inbox keeps the first statements in flight, so the later requests queue up.
      const lock = await lockTable(admin, 'inbox');
      try {
        const ids = idsInPartition(3, 'statements', prefix, 10);
        const answers = ids.map((id) => node.publish([makeEvent({ topic: 'statements', event_id: id, payload: payloadOf(400, 0) })]));
        await waitFor('the two statements in flight to wait for the inbox', async () => (await lock.waiting('%insert into inbox%')) >= 2, 20_000);
        await lock.release();
        for (const answer of answers) expect((await answer).status).toBe(202);
        const [row] = await admin<{ rows: number; events: number }[]>`SELECT count(*)::int AS rows, coalesce(sum(n), 0)::int AS events FROM inbox`;
        expect(row!.events).toBe(10);
        return row!.rows;
      } finally {
        await lock.release();
        await admin.end();
        await node.close();
      }
    };
    // Positive control: without a tight bound, the queued requests share statements.
    expect(await rowsFor({}, 'wide-')).toBeLessThan(10);
    // Each request is about 400 bytes: over a 100-byte bound every one goes alone.
    expect(await rowsFor({ INGEST_STATEMENT_BYTES: '100' }, 'tight-')).toBe(10);
  }, 120_000);

  test('a worker claim stops at CLAIM_BYTES but always takes the oldest row', async () => {
    const idle = await startTestAggregator({ WORKERS: '0' });
    try {
      // Five requests, so five inbox rows of one 400-byte payload each, in one partition.
      const part = 7;
      const ids = idsInPartition(part, 'claimed', 'c-', 5);
      for (let i = 0; i < 5; i++)
        expect((await idle.publish([makeEvent({ topic: 'claimed', event_id: ids[i], payload: payloadOf(400, i) })])).status).toBe(202);
      const claim = (bytes: number) => idle.aggregator.sql.begin((tx) => applyBatch(tx, part, 2000, bytes));
      expect((await claim(1000)).events).toBe(3); // 0, 400, 800 bytes before each: under 1000
      expect((await claim(1)).events).toBe(1); // the oldest row even when it alone is over
      expect((await claim(1_000_000)).events).toBe(1);
      expect((await idle.stats()).pending).toBe(0);
    } finally {
      await idle.close();
    }
  });
});
