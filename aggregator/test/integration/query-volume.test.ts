/**
 * Log volume queries answered from the per-minute rollups (migration 0012, folded by maintenance
 * in seq order below the read horizon; src/query/volume-rollup.ts) against the in-process
 * evaluator on the same stored events: Loki, OTLP, Elasticsearch and /publish payloads with every
 * way a level is carried, events exactly at a window's end t (counted) and at t - range (not),
 * one nanosecond either side of a minute, and the payloads the rollups cannot answer for (the
 * query falls back). Compared with nothing folded (every event read live), part folded, all
 * folded; the maintenance lock is held meanwhile so only the test folds.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import { ReadBudget } from '../../src/events/read-budget';
import { QueryEngine } from '../../src/query/engine';
import { QUERY_LIMITS } from '../../src/query/limits';
import { parseLogql } from '../../src/query/logql/parse';
import { stepsOf } from '../../src/query/metric-query';
import { inQueryTransaction } from '../../src/query/scan';
import { volumeFromRollups, volumeShape } from '../../src/query/volume-rollup';
import { MAINTENANCE_LOCK_KEY } from '../../src/retention/maintenance';
import { foldStreamMinutes, foldStreamMinutesFor } from '../../src/retention/stream-minutes';
import { countPartition, dropEventPartition } from '../../src/retention/expire';
import { listEventPartitions } from '../../src/retention/partitions';
import { deleteTopic } from '../../src/retention/topics';
import { type TestAggregator, startTestAggregator } from '../support/harness';

let agg: TestAggregator;
/** Holds the maintenance lock: the replica's own fold never runs during these tests. */
let lockHolder: postgres.Sql;

// 2026-02-01T00:00:00Z in seconds.
const T0 = 1769904000;
const ns = (seconds: number, extraNs = 0n) => (BigInt(seconds) * 1_000_000_000n + extraNs).toString();
const iso = (seconds: number, micros = 0) => new Date(seconds * 1000).toISOString().replace('.000Z', `.${String(micros).padStart(6, '0')}Z`);

async function send(path: string, body: string, contentType = 'application/json'): Promise<void> {
  const response = await agg.request(path, { method: 'POST', headers: { 'content-type': contentType }, body });
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${await response.text()}`);
}

beforeAll(async () => {
  agg = await startTestAggregator();
  lockHolder = postgres(agg.db.url, { max: 1, onnotice: () => {} });
  await lockHolder`SELECT pg_advisory_lock(${MAINTENANCE_LOCK_KEY})`;
  // Whatever the replica folded before the lock was taken is undone: nothing is folded.
  await agg.aggregator.sql`DELETE FROM stream_minutes`;
  await agg.aggregator.sql`UPDATE stream_minutes_folded SET through = 0`;
  const lokiStream = (labels: Record<string, string>, times: string[]) => ({
    stream: { app: 'vol', ...labels },
    values: times.map((t, i) => [t, `line ${i}`]),
  });
  await send(
    '/loki/api/v1/push',
    JSON.stringify({
      streams: [
        // T0 + 60 is the first window's end (counted); T0 is its start (not counted).
        lokiStream({ level: 'info' }, [ns(T0), ns(T0 + 60), ns(T0 + 120), ns(T0 + 120, 1n), ns(T0 + 179, 999_999_999n), ns(T0 + 300, 500n)]),
        lokiStream({ severity: 'error' }, [ns(T0 + 61), ns(T0 + 90), ns(T0 + 240)]),
        lokiStream({ level: 'WARN', detected_level: 'custom' }, [ns(T0 + 150), ns(T0 + 420)]),
        lokiStream({ level: '' }, [ns(T0 + 200)]),
        lokiStream({ env: 'dev' }, [ns(T0 + 330), ns(T0 + 360)]),
        { stream: { app: 'vol2', level: 'debug' }, values: [[ns(T0 + 100), 'other topic']] },
      ],
    }),
  );
  const record = (seconds: number, extra: Record<string, unknown>) => ({ timeUnixNano: ns(seconds), body: { stringValue: 'otlp' }, ...extra });
  await send(
    '/v1/logs',
    JSON.stringify({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'vol' } }] },
          scopeLogs: [
            {
              logRecords: [
                record(T0 + 180, { severityText: 'Warning', severityNumber: 13 }),
                record(T0 + 181, { severityNumber: 17 }),
                record(T0 + 182, { severityText: 'loud' }),
                record(T0 + 183, {}),
              ],
            },
          ],
        },
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { stringValue: 'vol' } },
              { key: 'detected.level', value: { stringValue: 'from-resource' } },
            ],
          },
          scopeLogs: [{ logRecords: [record(T0 + 240, {}), record(T0 + 241, { severityNumber: 5 })] }],
        },
      ],
    }),
  );
  const bulk = [
    { '@timestamp': iso(T0 + 120), message: 'e1', log: { level: 'ERROR' } },
    { '@timestamp': iso(T0 + 121), message: 'e2', 'log.level': 'info' },
    { '@timestamp': iso(T0 + 122), message: 'e3', log: { level: null }, level: 'debug' },
    { '@timestamp': iso(T0 + 480), message: 'e4' },
  ];
  await send('/vol/_bulk', bulk.map((doc) => `{"index":{}}\n${JSON.stringify(doc)}\n`).join(''), 'application/x-ndjson');
  const publish = (seconds: number, micros: number, payload: unknown, source = 'app') => ({
    topic: 'vol',
    event_id: `p-${seconds}-${micros}-${JSON.stringify(payload)}`,
    timestamp: iso(seconds, micros),
    source,
    payload,
  });
  await send(
    '/publish',
    JSON.stringify({
      events: [
        publish(T0 + 60, 0, { level: 'ERROR' }),
        publish(T0 + 240, 0, { level: 'ERROR' }, 'other'),
        publish(T0 + 240, 1, { level: 5 }),
        publish(T0 + 270, 0, { level: { nested: 'info' } }),
        publish(T0 + 271, 0, { level: null, message: 'no @timestamp: not Elasticsearch' }),
        publish(T0 + 272, 0, { msg: 'no level' }),
        publish(T0 + 600, 0, { level: 'fatal' }),
        publish(T0 + 600, 1, { level: 'fatal' }),
        publish(T0 + 119, 999_999, { level: 'warn', note: 'one microsecond before a minute' }),
        // Rollups cannot answer for a line whose bytes SQL does not know (an OTLP-shaped body
        // that is not a string), nor (below) for an escape jsonb refuses.
        { ...publish(T0 + 131, 0, { body: { nested: 1 }, severity_text: 'info' }), topic: 'odd-bytes' },
        { ...publish(T0 + 132, 0, { body: 'a string body', severity_number: 9 }), topic: 'odd-bytes' },
      ],
    }),
  );
  // Sent as text: the stored payload keeps the escaped surrogate pair, which the migration's
  // guard treats like a lone surrogate (jsonb cannot be trusted with it).
  await send(
    '/publish',
    `{"topic":"odd","event_id":"odd-1","timestamp":"${iso(T0 + 130)}","source":"app","payload":{"level":"info","text":"\\ud83d\\ude00"}}`,
  );
  await agg.drained();
}, 60_000);
afterAll(async () => {
  await lockHolder?.end();
  await agg?.close();
}, 30_000);

const folded = async () => {
  const [row] = await agg.aggregator.sql<{ through: string; rows: number; events: string | null; stored: string; top: string }[]>`
    SELECT (SELECT through::text FROM stream_minutes_folded) AS through, (SELECT count(*)::int FROM stream_minutes) AS rows,
      (SELECT sum(events)::text FROM stream_minutes) AS events, (SELECT count(*)::text FROM events) AS stored,
      (SELECT max(seq)::text FROM events) AS top`;
  return row!;
};

const engine = (rollups: boolean) =>
  new QueryEngine({
    sql: agg.aggregator.sql,
    horizon: agg.aggregator.horizon,
    budget: new ReadBudget(1 << 30),
    limits: QUERY_LIMITS,
    rollups,
  });

type Matrix = { metric: Record<string, string>; values: [number, string][] }[];

async function both(query: string, stepSeconds: number, startSeconds = T0 + 60): Promise<{ rollups: Matrix; events: Matrix }> {
  const params = { query, start: ns(startSeconds), end: ns(T0 + 600), step: String(stepSeconds) };
  const run = async (rollups: boolean) => {
    const body = (await engine(rollups).queryRange(params, [])) as { data: { resultType: string; result: Matrix } };
    expect(body.data.resultType).toBe('matrix');
    return body.data.result;
  };
  return { rollups: await run(true), events: await run(false) };
}

/** What the rollup path answers by itself (null: it sends the query back to the events). */
async function fromRollups(query: string, stepSeconds = 60, startSeconds = T0 + 60) {
  const parsed = parseLogql(query);
  if (parsed.kind !== 'metric' || parsed.expr.kind !== 'aggregate') throw new Error('not an aggregate');
  const range = volumeShape(parsed.expr);
  if (range === null) throw new Error(`${query} is not the volume shape`);
  const steps = stepsOf(BigInt(ns(startSeconds)), BigInt(ns(T0 + 600)), stepSeconds * 1000, QUERY_LIMITS);
  const bound = await agg.aggregator.horizon.current();
  return inQueryTransaction(agg.aggregator.sql, 30_000, (tx) =>
    volumeFromRollups(parsed.expr as never, range, { tx, bound, steps, limits: QUERY_LIMITS, deadline: Date.now() + 30_000 }),
  );
}

const VOLUME = 'sum by (level, detected_level) (count_over_time({topic="vol"} | drop __error__ [1m]))';
const ALIGNED: [string, number][] = [
  [VOLUME, 60],
  ['sum by (level, detected_level) (count_over_time({topic="vol"} | drop __error__ [2m]))', 60],
  ['sum by (detected_level) (count_over_time({topic=~"vol.*"}[5m]))', 120],
  ['sum by (level) (count_over_time({topic="vol"}[1m]))', 180],
  ['sum by (topic, source) (count_over_time({topic=~"vol.*", source!="x"}[3m]))', 60],
  ['sum(count_over_time({source="loki", detected_level="error"}[2m]))', 60],
  ['sum by (level) (count_over_time({topic="vol", level=~"(?i)e.*|"}[1m]))', 60],
  ['sum by (level) (bytes_over_time({topic=~"vol.*"}[1m]))', 60],
  ['sum by (source, detected_level) (bytes_over_time({topic="vol"} | drop app [2m]))', 120],
];

describe('log volume from rollups equals reading the events', () => {
  test('the shape rule: which queries may read the rollups', () => {
    const shape = (query: string) => {
      const parsed = parseLogql(query);
      return parsed.kind === 'metric' && parsed.expr.kind === 'aggregate' ? volumeShape(parsed.expr) : null;
    };
    for (const [query] of ALIGNED) expect(shape(query)).not.toBeNull();
    for (const query of [
      'sum by (app) (count_over_time({topic="vol"}[1m]))',
      'sum by (level) (rate({topic="vol"}[1m]))',
      'max by (level) (count_over_time({topic="vol"}[1m]))',
      'sum by (level) (count_over_time({topic="vol"} |= "x" [1m]))',
      'sum by (level) (count_over_time({topic="vol", app="vol"}[1m]))',
    ])
      expect(shape(query)).toBeNull();
  });

  test('the rollups answer every aligned case by themselves (positive control)', async () => {
    for (const [query, step] of ALIGNED) {
      const series = await fromRollups(query, step);
      expect({ query, answered: series !== null }).toEqual({ query, answered: true });
      expect(series!.length).toBeGreaterThan(0);
    }
    // Not whole minutes: the windows cut buckets, so the events are read instead.
    expect(await fromRollups(VOLUME, 60, T0 + 61)).toBeNull();
    expect(await fromRollups('sum by (level) (count_over_time({topic="vol"}[90s]))', 60)).toBeNull();
  });

  test('Grafana volume query, step == range: the windows tile, the edges land where Loki puts them', async () => {
    const { rollups, events } = await both(VOLUME, 60);
    expect(rollups).toEqual(events);
    expect(events.length).toBeGreaterThanOrEqual(8);
    const info = events.find((s) => s.metric.level === 'info' && s.metric.detected_level === 'info')!;
    // (T0, T0+60]: the Loki event at T0+60, not the one at T0. (T0+60, T0+120]: T0+120 exactly.
    // (T0+120, T0+180]: Loki T0+120 plus 1 ns and T0+180 less 1 ns, Elasticsearch log.level at T0+121.
    expect(info.values.slice(0, 3)).toEqual([
      [T0 + 60, '1'],
      [T0 + 120, '1'],
      [T0 + 180, '3'],
    ]);
  });

  test('every aligned case gives the same matrix both ways: nothing folded, part folded, all folded', async () => {
    // Nothing folded (positive control): every count comes from the events read live.
    expect(await folded()).toMatchObject({ through: '0', rows: 0 });
    for (const [query, step] of ALIGNED) {
      const { rollups, events } = await both(query, step);
      expect(events.length).toBeGreaterThan(0);
      expect(rollups).toEqual(events);
    }
    const sql = agg.aggregator.sql;
    const bound = await agg.aggregator.horizon.current();
    // About half folded: the events at or below `through` come from the rollups, the rest live.
    const [range] = await sql<{ low: string; high: string }[]>`SELECT min(seq)::text AS low, max(seq)::text AS high FROM events`;
    const half = Math.floor((Number(range!.low) + Number(range!.high)) / 2);
    await foldStreamMinutes(sql as never, bound, half);
    const part = await folded();
    expect(Number(part.through)).toBe(half);
    expect(Number(part.events)).toBeGreaterThan(0);
    expect(Number(part.events)).toBeLessThan(Number(part.stored));
    for (const [query, step] of ALIGNED) {
      const { rollups, events } = await both(query, step);
      expect(rollups).toEqual(events);
    }
    // All folded: the rollups count every stored event once.
    expect((await foldStreamMinutesFor(sql as never, bound, Number.POSITIVE_INFINITY))?.caughtUp).toBe(true);
    const all = await folded();
    expect(Number(all.through)).toBeGreaterThanOrEqual(Number(all.top));
    expect(all.events).toBe(all.stored);
    // Folding again changes nothing.
    await foldStreamMinutes(sql as never, bound);
    expect((await folded()).events).toBe(all.stored);
    for (const [query, step] of ALIGNED) {
      const { rollups, events } = await both(query, step);
      expect(rollups).toEqual(events);
    }
  });

  test('a range the rollups cannot answer for reads the events, with the same result', async () => {
    expect(await fromRollups('sum by (level) (count_over_time({topic="odd"}[1m]))')).toBeNull();
    expect(await fromRollups('sum by (level) (bytes_over_time({topic="odd-bytes"}[1m]))')).toBeNull();
    // Counting needs no line length: that topic's counts come from the rollups.
    expect(await fromRollups('sum by (level) (count_over_time({topic="odd-bytes"}[1m]))')).not.toBeNull();
    for (const query of [
      'sum by (level) (count_over_time({topic="odd"}[1m]))',
      'sum by (level) (bytes_over_time({topic="odd-bytes"}[1m]))',
      'sum by (level, detected_level) (count_over_time({topic="odd-bytes"}[1m]))',
    ]) {
      const { rollups, events } = await both(query, 60);
      expect(events.length).toBeGreaterThan(0);
      expect(rollups).toEqual(events);
    }
  });

  test("a topic's DELETE removes its rollups", async () => {
    const sql = agg.aggregator.sql;
    const count = async () => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM stream_minutes WHERE topic = 'odd'`)[0]!.n;
    expect(await count()).toBeGreaterThan(0);
    // The DELETE takes the maintenance lock (so no fold writes the topic back): let it go.
    await lockHolder`SELECT pg_advisory_unlock(${MAINTENANCE_LOCK_KEY})`;
    expect(await deleteTopic(sql, 'odd')).not.toBeNull();
    expect(await count()).toBe(0);
  });

  test("a partition's drop removes its rollups with its events", async () => {
    const sql = agg.aggregator.sql;
    const partitions = await listEventPartitions(sql as never);
    const [held] = await sql<{ name: string }[]>`SELECT tableoid::regclass::text AS name FROM events LIMIT 1`;
    const partition = partitions.find((p) => p.name === held!.name)!;
    const rolled = async () =>
      (
        await sql<{ n: number }[]>`SELECT coalesce(sum(events), 0)::int AS n FROM stream_minutes WHERE expires_lower = ${new Date(partition.lower)}`
      )[0]!.n;
    // Positive control: the partition's events are counted (all were folded above).
    const [stored] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events WHERE tableoid = ${held!.name}::regclass`;
    expect(stored!.n).toBeGreaterThan(0);
    expect(await rolled()).toBe(stored!.n);
    await dropEventPartition(sql as never, partition, await countPartition(sql as never, partition.name));
    expect(await rolled()).toBe(0);
  });
});
