/**
 * The read statements' cost at idle: `events` is partitioned (one table per STORAGE_INTERVAL
 * of deadlines, 31 by default), and every mention of it in a statement is planned and opened
 * once per partition. A page walk that mentions it once costs a third of one that mentions it
 * three times, most on a pool connection's first executions (bench/scenarios/latency.ts). Read
 * from the plans, not from a clock: a count of partition scans does not depend on the load.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { readPage } from '../../src/events/read';
import { readEvents } from '../../src/subscribe/read';
import { type TestAggregator, makeEvent, startTestAggregator } from '../support/harness';

let node: TestAggregator;
const TOPIC = 'plan';

beforeAll(async () => {
  node = await startTestAggregator();
  const published = Array.from({ length: 5 }, (_, i) => makeEvent({ topic: TOPIC, event_id: `plan-${i}`, payload: { i } }));
  expect((await node.publish(published)).status).toBe(202);
  await node.drained();
}, 60_000);

afterAll(async () => {
  await node?.close();
}, 30_000);

interface Statement {
  query: string;
  parameters: unknown[];
}

/** Runs `read` on a connection of its own and returns its result and the statements it sent. */
async function capture<T>(read: (sql: postgres.Sql) => Promise<T>): Promise<{ result: T; statements: Statement[] }> {
  const statements: Statement[] = [];
  const sql = postgres(node.db.url, {
    max: 1,
    onnotice: () => {},
    debug: (_connection, query, parameters) => statements.push({ query, parameters: parameters as unknown[] }),
  });
  try {
    const result = await read(sql);
    return { result, statements: statements.filter((s) => /\bevents\b/.test(s.query)) };
  } finally {
    await sql.end();
  }
}

/** Scans of `events` partitions in the statement's plan (each mention of `events` scans them all). */
async function partitionScans(statement: Statement): Promise<number> {
  const sql = postgres(node.db.url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql.unsafe(`EXPLAIN (FORMAT JSON) ${statement.query}`, statement.parameters as postgres.ParameterOrJSON<never>[]);
    let scans = 0;
    const walk = (plan: Record<string, unknown>) => {
      if (typeof plan['Relation Name'] === 'string' && /^events_p\d+$/.test(plan['Relation Name'])) scans++;
      for (const child of (plan.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk((row!['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]!.Plan);
    return scans;
  } finally {
    await sql.end();
  }
}

async function partitionCount(): Promise<number> {
  const sql = postgres(node.db.url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'events'::regclass`;
    return row!.n;
  } finally {
    await sql.end();
  }
}

describe('read statements mention the partitioned events table as few times as they can', () => {
  test('a GET /events page scans each partition once, and returns every event in order', async () => {
    const partitions = await partitionCount();
    // Positive control: several partitions, so a second mention of `events` would show.
    expect(partitions).toBeGreaterThan(1);
    const bound = await node.aggregator.horizon.current();
    const { result, statements } = await capture((sql) => readPage(sql, bound, TOPIC, 0, 100, 1 << 20));
    const page = JSON.parse(Buffer.from(result.eventsJson).toString('utf8')) as { event_id: string }[];
    expect(page.map((e) => e.event_id)).toEqual(['plan-0', 'plan-1', 'plan-2', 'plan-3', 'plan-4']);
    expect(statements).toHaveLength(1);
    expect(await partitionScans(statements[0]!)).toBe(partitions);
  });

  test('a subscription read scans each partition once, and finds the first held-back event in the same walk', async () => {
    const partitions = await partitionCount();
    expect(partitions).toBeGreaterThan(1);
    const bound = await node.aggregator.horizon.current();
    const all = await readPage(node.aggregator.sql, bound, TOPIC, 0, 100, 1 << 20);
    const seqs = (JSON.parse(Buffer.from(all.eventsJson).toString('utf8')) as { seq: number }[]).map((e) => e.seq);
    expect(seqs).toHaveLength(5);

    const { result, statements } = await capture((sql) => readEvents(sql, bound, TOPIC, seqs[1]!, 256, 1 << 20));
    expect(result.rows.map((r) => r.seq)).toEqual(seqs.slice(2));
    expect(result.heldFrom).toBeNull();
    expect(statements).toHaveLength(1);
    expect(await partitionScans(statements[0]!)).toBe(partitions);

    // A horizon that has passed only the first three: the page stops there, and the fourth is
    // the held-back one (what the hub waits on), not in the page.
    const held = await readEvents(node.aggregator.sql, { sealed: seqs[2]!, server: null }, TOPIC, seqs[0]!, 256, 1 << 20);
    expect(held.rows.map((r) => r.seq)).toEqual(seqs.slice(1, 3));
    expect(held.full).toBe(false);
    expect(held.heldFrom).toBe(seqs[3]!);
    // Full at the limit: the rows up to it, and no look past them.
    const full = await readEvents(node.aggregator.sql, { sealed: seqs[2]!, server: null }, TOPIC, seqs[0]!, 1, 1 << 20);
    expect(full.rows.map((r) => r.seq)).toEqual([seqs[1]!]);
    expect(full.full).toBe(true);
  });
});
