/**
 * The Loki query API as Grafana calls it, against a real process on a real database: Grafana's
 * exact requests (Save & test, a log query with ns times and step, the volume query, labels,
 * label values, series, index stats, a split range) with the response shapes asserted field by
 * field; a snappy-protobuf Loki push read back with its labels, line and timestamp; a query
 * client nobody here wrote (@myunisoft/loki); the read scope.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { GrafanaApi } from '@myunisoft/loki';
import postgres from 'postgres';
import protobuf from 'protobufjs';
import * as snappy from 'snappyjs';
import { ReadBudget } from '../../src/events/read-budget';
import { QueryEngine } from '../../src/query/engine';
import { QUERY_LIMITS } from '../../src/query/limits';
import { type TestAggregator, startTestAggregator } from '../support/harness';
import { type Listening, listen } from '../support/shipper';

const READER = 'reader-token-0123456789abcdef';
const PUBLISHER = 'publisher-token-0123456789abcdef';
let agg: TestAggregator;
let server: Listening;

// 2026-01-01T00:00:00Z in seconds; every event of this file sits in the minute after it.
const T0 = 1767225600;
const ns = (seconds: number, nanos = 0) => (BigInt(seconds) * 1_000_000_000n + BigInt(nanos)).toString();

const PushRequest = new protobuf.Root()
  .loadSync(new URL('../../src/ingest/loki/push.proto', import.meta.url).pathname)
  .lookupType('logproto.PushRequest');

const LOKI_LINES = [
  { seconds: T0 + 1, nanos: 123_456_789, line: 'payment timeout for order 1' },
  { seconds: T0 + 2, nanos: 500, line: 'payment ok' },
  { seconds: T0 + 3, nanos: 999_999_999, line: 'TIMEOUT upstream' },
];
// A payload that must come back as sent: key order, spacing and a 64-bit integer JSON cannot hold.
const rawPayload = (i: number) => `{"msg":"order ${i}",  "level":"${i === 4 ? 'error' : 'info'}","id":12345678901234567890${i}}`;

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${READER}`, ...headers } });
const getJson = async (path: string, headers: Record<string, string> = {}) => {
  const response = await get(path, headers);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${text}`);
  return JSON.parse(text);
};
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

beforeAll(async () => {
  agg = await startTestAggregator({ AUTH_TOKENS: `r:read:${READER},p:publish:${PUBLISHER}` });
  server = listen(agg);
  const push = PushRequest.encode(
    PushRequest.fromObject({
      streams: [
        {
          labels: '{app="checkout", env="prod", level="error"}',
          entries: LOKI_LINES.map(({ seconds, nanos, line }) => ({ timestamp: { seconds, nanos }, line })),
        },
        { labels: '{app="checkout", env="dev"}', entries: [{ timestamp: { seconds: T0 + 4, nanos: 0 }, line: 'dev line' }] },
      ],
    }),
  ).finish();
  const pushed = await fetch(`${server.url}/loki/api/v1/push`, {
    method: 'POST',
    headers: { authorization: `Bearer ${PUBLISHER}`, 'content-type': 'application/x-protobuf' },
    body: Buffer.from(snappy.compress(push)),
  });
  expect(pushed.status).toBe(204);
  const events = Array.from(
    { length: 5 },
    (_, i) =>
      `{"topic":"orders","event_id":"o${i}","timestamp":"${new Date((T0 + 10 * i) * 1000).toISOString()}","source":"shop-1","payload":${rawPayload(i)}}`,
  );
  const published = await fetch(`${server.url}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${PUBLISHER}`, 'content-type': 'application/json' },
    body: `[${events.join(',')}]`,
  });
  expect(published.status).toBeLessThan(300);
  for (;;) {
    const stats = (await getJson('/stats')) as { pending: number };
    if (stats.pending === 0) break;
    await Bun.sleep(20);
  }
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await agg?.close();
}, 30_000);

describe('Grafana requests', () => {
  test('Save & test: vector(1)+vector(1) at time=4000000000 is one sample of value 2 at 4 s', async () => {
    const body = await getJson('/loki/api/v1/query?query=vector(1)%2Bvector(1)&time=4000000000&direction=backward');
    expect(body).toEqual({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [4, '2'] }] } });
  });

  test('a log query with ns start/end, limit 1000 and step: streams, newest first, [ns string, line] values', async () => {
    const body = await getJson(
      `/loki/api/v1/query_range?${q({ query: '{topic="orders"}', start: ns(T0), end: ns(T0 + 60), limit: '1000', direction: 'backward', step: '500ms' })}`,
    );
    expect(body.status).toBe('success');
    expect(body.data.resultType).toBe('streams');
    expect(body.data.encodingFlags).toBeUndefined();
    const lines = body.data.result.flatMap((s: { stream: Record<string, string>; values: [string, string][] }) => {
      expect(s.stream.topic).toBe('orders');
      expect(s.stream.source).toBe('shop-1');
      for (const value of s.values) {
        expect(value).toHaveLength(2);
        expect(value[0]).toMatch(/^\d{19}$/);
      }
      return s.values;
    });
    lines.sort((a: [string, string], b: [string, string]) => (a[0] < b[0] ? 1 : -1));
    expect(lines.map((v: [string, string]) => v[1])).toEqual([4, 3, 2, 1, 0].map(rawPayload));
    expect(lines[0][0]).toBe(ns(T0 + 40));
    // level from the payload's `level` field: the error event is its own stream
    const error = body.data.result.find((s: { stream: Record<string, string> }) => s.stream.level === 'error');
    expect(error.stream).toEqual({ topic: 'orders', source: 'shop-1', level: 'error', detected_level: 'error' });
  });

  test('start is inclusive and end exclusive; direction and limit pick the oldest or newest', async () => {
    const lines = async (params: Record<string, string>) => {
      const body = await getJson(`/loki/api/v1/query_range?${q({ query: '{topic="orders"}', ...params })}`);
      return body.data.result.flatMap((s: { values: [string, string][] }) => s.values.map((v) => v[0])).sort();
    };
    expect(await lines({ start: ns(T0 + 10), end: ns(T0 + 30) })).toEqual([ns(T0 + 10), ns(T0 + 20)]);
    expect(await lines({ start: ns(T0), end: ns(T0 + 60), limit: '2', direction: 'forward' })).toEqual([ns(T0), ns(T0 + 10)]);
    expect(await lines({ start: ns(T0), end: ns(T0 + 60), limit: '2' })).toEqual([ns(T0 + 30), ns(T0 + 40)]);
    // float seconds and RFC 3339 read as the same instants
    expect(await lines({ start: `${T0 + 10}.0`, end: new Date((T0 + 30) * 1000).toISOString() })).toEqual([ns(T0 + 10), ns(T0 + 20)]);
  });

  test('a split range (Grafana splits long ranges) returns every line exactly once', async () => {
    const all: string[] = [];
    for (const [start, end] of [
      [T0, T0 + 20],
      [T0 + 20, T0 + 40],
      [T0 + 40, T0 + 60],
    ]) {
      const body = await getJson(`/loki/api/v1/query_range?${q({ query: '{topic="orders"}', start: ns(start!), end: ns(end!), limit: '1000' })}`);
      all.push(...body.data.result.flatMap((s: { values: [string, string][] }) => s.values.map((v) => v[1])));
    }
    expect(all.sort()).toEqual([0, 1, 2, 3, 4].map(rawPayload).sort());
  });

  test('a Loki push reads back with its labels, line and timestamp (nanoseconds kept)', async () => {
    const body = await getJson(
      `/loki/api/v1/query_range?${q({ query: '{app="checkout", env="prod"}', start: ns(T0), end: ns(T0 + 60), limit: '1000' })}`,
    );
    expect(body.data.result).toHaveLength(1);
    const [stream] = body.data.result;
    expect(stream.stream).toEqual({ app: 'checkout', env: 'prod', level: 'error', detected_level: 'error', topic: 'checkout', source: 'loki' });
    expect(stream.values).toEqual([...LOKI_LINES].reverse().map(({ seconds, nanos, line }) => [ns(seconds, nanos), line]));
  });

  test('line filters, chained, with RE2 (?i) and or-alternatives', async () => {
    const lines = async (query: string) => {
      const body = await getJson(`/loki/api/v1/query_range?${q({ query, start: ns(T0), end: ns(T0 + 60) })}`);
      return body.data.result.flatMap((s: { values: [string, string][] }) => s.values.map((v) => v[1])).sort();
    };
    expect(await lines('{app="checkout"} |= "timeout"')).toEqual(['payment timeout for order 1']);
    expect(await lines('{app="checkout"} |~ "(?i)timeout"')).toEqual(['TIMEOUT upstream', 'payment timeout for order 1']);
    expect(await lines('{app="checkout"} |~ "(?i)timeout" != "payment"')).toEqual(['TIMEOUT upstream']);
    expect(await lines('{app="checkout"} !~ "pay.*" |= "line" or "upstream"')).toEqual(['TIMEOUT upstream', 'dev line']);
    expect(await lines('{app=~"check.+", env!="prod"}')).toEqual(['dev line']);
    expect(await lines('{topic=~"ord.*"} |= "order 3"')).toEqual([rawPayload(3)]);
  });

  test('categorize-labels: extracted labels in a third element, flag echoed', async () => {
    const body = await getJson(
      `/loki/api/v1/query_range?${q({ query: '{topic="orders"} | json | msg="order 2"', start: ns(T0), end: ns(T0 + 60) })}`,
      {
        'X-Loki-Response-Encoding-Flags': 'categorize-labels',
      },
    );
    expect(body.data.encodingFlags).toEqual(['categorize-labels']);
    expect(body.data.result).toHaveLength(1);
    expect(body.data.result[0].stream).toEqual({ topic: 'orders', source: 'shop-1', level: 'info', detected_level: 'info' });
    expect(body.data.result[0].values).toEqual([
      [ns(T0 + 20), rawPayload(2), { parsed: { msg: 'order 2', level_extracted: 'info', id: '123456789012345680000' } }],
    ]);
  });

  test('the log volume query: a matrix of [seconds, "count"] per level, windows (t-1m, t]', async () => {
    const query = 'sum by (level, detected_level) (count_over_time({topic="orders"} | drop __error__ [1m]))';
    const body = await getJson(`/loki/api/v1/query_range?${q({ query, start: ns(T0), end: ns(T0 + 120), step: '60000ms' })}`);
    expect(body.status).toBe('success');
    expect(body.data.resultType).toBe('matrix');
    const byLevel = Object.fromEntries(body.data.result.map((s: { metric: Record<string, string>; values: unknown }) => [s.metric.level, s]));
    expect(byLevel.info.metric).toEqual({ level: 'info', detected_level: 'info' });
    // t=T0 counts the event at T0 itself (end included); t=T0+60 the ones in (T0, T0+60]
    expect(byLevel.info.values).toEqual([
      [T0, '1'],
      [T0 + 60, '3'],
    ]);
    expect(byLevel.error.values).toEqual([[T0 + 60, '1']]);
  });

  test('labels, label values, series and index stats over a range; unknown label or empty range: data []', async () => {
    const range = q({ start: ns(T0), end: ns(T0 + 60) });
    const labels = await getJson(`/loki/api/v1/labels?${range}`);
    expect(labels.status).toBe('success');
    expect(labels.data).toEqual(['app', 'detected_level', 'env', 'level', 'source', 'topic']);
    expect((await getJson(`/loki/api/v1/label/topic/values?${range}`)).data).toEqual(['checkout', 'orders']);
    expect((await getJson(`/loki/api/v1/label/env/values?${range}&${q({ query: '{app="checkout"}' })}`)).data).toEqual(['dev', 'prod']);
    expect(await getJson(`/loki/api/v1/label/nosuch/values?${range}`)).toEqual({ status: 'success', data: [] });
    expect(await getJson(`/loki/api/v1/labels?${q({ start: ns(T0 - 3600), end: ns(T0 - 60) })}`)).toEqual({ status: 'success', data: [] });
    const series = await getJson(`/loki/api/v1/series?${range}&${q({ 'match[]': '{env="dev"}' })}`);
    expect(series).toEqual({ status: 'success', data: [{ app: 'checkout', env: 'dev', topic: 'checkout', source: 'loki' }] });
    const stats = await getJson(`/loki/api/v1/index/stats?${range}&${q({ query: '{topic="orders"}' })}`);
    expect(stats).toEqual({ streams: 2, chunks: 2, entries: 5, bytes: [0, 1, 2, 3, 4].reduce((n, i) => n + Buffer.byteLength(rawPayload(i)), 0) });
    const info = await getJson('/loki/api/v1/status/buildinfo');
    expect(typeof info.version).toBe('string');
  });

  test('a metadata answer that looked at only the newest events of its range says so in `warnings`', async () => {
    const engine = (metadataRows: number) =>
      new QueryEngine({
        sql: agg.aggregator.sql,
        horizon: agg.aggregator.horizon,
        budget: new ReadBudget(1 << 30),
        limits: { ...QUERY_LIMITS, metadataRows },
      });
    const range = { start: ns(T0), end: ns(T0 + 60) };
    // The newest 3 events are /publish events of `orders`: the Loki push labels are older.
    const bounded = (await engine(3).labels(range)) as { data: string[]; warnings?: string[] };
    expect(bounded.data).not.toContain('app');
    expect(bounded.warnings).toEqual([expect.stringContaining('only the newest 3 events of the range were looked at')]);
    const series = (await engine(3).series({ ...range, 'match[]': '{topic=~".+"}' })) as { warnings?: string[] };
    expect(series.warnings).toHaveLength(1);
    // Positive control: with room for every event of the range, the full answer and no warning.
    const whole = await engine(100).labels(range);
    expect(whole).toEqual({ status: 'success', data: ['app', 'detected_level', 'env', 'level', 'source', 'topic'] });
  });

  test('a bad query is a 400 with a plain-text parse error', async () => {
    const response = await get(`/loki/api/v1/query_range?${q({ query: '{app="x"', start: ns(T0), end: ns(T0 + 60) })}`);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toStartWith('text/plain');
    expect(await response.text()).toBe('parse error at line 1, col 9: syntax error: unexpected end of input');
  });

  test('the read scope is required', async () => {
    const path = `/loki/api/v1/query_range?${q({ query: '{topic="orders"}' })}`;
    expect((await fetch(`${server.url}${path}`)).status).toBe(401);
    expect((await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${PUBLISHER}` } })).status).toBe(403);
    expect((await get(path)).status).toBe(200);
  });
});

describe('indexes (migration 0010)', () => {
  test("a topic's newest lines in a range are read from events_topic_timestamp_idx, not by a scan and sort", async () => {
    const sql = postgres(agg.db.url, { max: 1 });
    try {
      const indexes = await sql<{ indexname: string }[]>`SELECT indexname FROM pg_indexes WHERE tablename = 'events'`;
      expect(indexes.map((i) => i.indexname)).toContain('events_topic_timestamp_idx');
      // Few rows here: forbid the alternatives so the plan shows the index can serve the query.
      const plan = await sql.begin(async (tx) => {
        await tx`SET LOCAL enable_seqscan = off`;
        await tx`SET LOCAL enable_bitmapscan = off`;
        return tx.unsafe(
          `EXPLAIN SELECT seq FROM events WHERE topic = 'orders' AND "timestamp" >= now() - interval '1 hour' AND "timestamp" < now() ORDER BY "timestamp" DESC, topic DESC, seq DESC LIMIT 100`,
        );
      });
      const text = plan.map((row) => Object.values(row)[0]).join('\n');
      // each partition's copy of the index is named after it: events_p<bound>_topic_timestamp_idx
      expect(text).toMatch(/Index Scan( Backward)? using events_p\d+_topic_timestamp_idx/);
    } finally {
      await sql.end();
    }
  });
});

describe('@myunisoft/loki', () => {
  test('queryRange, queryRangeMatrix, labels, labelValues through a client nobody here wrote', async () => {
    const { Loki: loki } = new GrafanaApi({ remoteApiURL: `${server.url}/`, authentication: { type: 'bearer', token: READER } });
    // The client passes numeric start/end through as they are: nanoseconds, as Grafana sends.
    const range = { start: ns(T0), end: ns(T0 + 60), limit: 1000 };
    const { logs } = await loki.queryRange('{app="checkout"} |= "payment"', range);
    expect([...logs].sort()).toEqual(['payment ok', 'payment timeout for order 1']);
    const { streams } = await loki.queryRangeStream('{topic="orders"} |= "order 1"', range);
    expect(streams.map((s) => s.values.map((v) => v[1]))).toEqual([[rawPayload(1)]]);
    const { metrics } = await loki.queryRangeMatrix('sum(count_over_time({app="checkout"}[1m]))', { ...range, step: '60' } as typeof range);
    // at T0 no line is in (T0-1m, T0]: no point; at T0+60 the four lines of the app
    expect(metrics).toEqual([{ labels: {}, values: [[T0 + 60, '4']] }] as never);
    expect(await loki.labels(range)).toContain('topic');
    expect(await loki.labelValues('app', range)).toEqual(['checkout']);
  });
});
