/**
 * The LogQL subset over HTTP on a real database: metric functions under aggregations with
 * by/without, vector(n) and arithmetic; `| json`, `| logfmt`, label filters, drop/keep,
 * line_format; and the bounds: malformed queries, regexes RE2 refuses or that would be
 * catastrophic for a backtracking engine, huge ranges, too many series or points, the byte
 * budget and the time limit, each a 400 and never a 500.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { QueryRejected } from '../../src/errors';
import { ReadBudget } from '../../src/events/read-budget';
import { QueryEngine } from '../../src/query/engine';
import { QUERY_LIMITS, type QueryLimits } from '../../src/query/limits';
import { type TestAggregator, startTestAggregator } from '../support/harness';

let agg: TestAggregator;

// 2026-02-01T00:00:00Z in seconds.
const T0 = 1769904000;
const ns = (seconds: number) => (BigInt(seconds) * 1_000_000_000n).toString();
const CATASTROPHIC_LINE = `${'a'.repeat(20_000)}!`;

const WEB_PROD = [
  'status=200 path=/a took=10ms size=1KB',
  'status=500 path=/b took=2s size=3KB',
  'status=404 path=/a took=150ms size=10B',
  'status=200 path=/c took=1s',
  'garbage "unterminated',
  'status=503 path=/b took=5s',
] as const;
const WEB_DEV = ['{"status":200,"req":{"path":"/x","ms":12}}', '{"status":500,"req":{"path":"/y","ms":900}}', 'not json'] as const;
const DB = ['q1', 'query two', 'q3'];

const stream = (labels: Record<string, string>, lines: string[], at: (i: number) => number) => ({
  stream: labels,
  values: lines.map((line, i) => [ns(at(i)), line]),
});

async function request(path: string): Promise<{ status: number; body: string }> {
  const response = await agg.request(path);
  return { status: response.status, body: await response.text() };
}

async function query(params: Record<string, string>): Promise<any> {
  const { status, body } = await request(`/loki/api/v1/query_range?${new URLSearchParams(params)}`);
  if (status !== 200) throw new Error(`${params.query}: ${status} ${body}`);
  return JSON.parse(body);
}

/** Metric query over T0..T0+60 by 30 s: each series as {labels, points: {offset: value}}. */
async function metric(text: string, range = { start: ns(T0), end: ns(T0 + 60), step: '30s' }) {
  const body = await query({ query: text, ...range });
  expect(body.data.resultType).toBe('matrix');
  return body.data.result.map((s: { metric: Record<string, string>; values: [number, string][] }) => ({
    labels: s.metric,
    points: Object.fromEntries(s.values.map(([t, v]) => [t - T0, v])),
  }));
}

async function lines(text: string): Promise<string[]> {
  const body = await query({ query: text, start: ns(T0), end: ns(T0 + 60), limit: '1000' });
  return body.data.result.flatMap((s: { values: [string, string][] }) => s.values.map((v) => v[1])).sort();
}

beforeAll(async () => {
  agg = await startTestAggregator();
  const push = {
    streams: [
      stream({ app: 'web', env: 'prod' }, [...WEB_PROD], (i) => T0 + 1 + i),
      stream({ app: 'web', env: 'dev' }, [...WEB_DEV], (i) => T0 + 2 + i),
      stream({ app: 'db', env: 'prod' }, DB, (i) => T0 + 10 * (i + 1)),
      stream({ app: 'regex' }, [CATASTROPHIC_LINE], () => T0 + 40),
      // 501 streams of one topic: one more than a metric query may return
      ...Array.from({ length: 501 }, (_, i) => stream({ app: 'many', shard: String(i) }, ['x'], () => T0 + 50)),
    ],
  };
  const response = await agg.request('/loki/api/v1/push', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(push),
  });
  expect(response.status).toBe(204);
  await agg.drained();
}, 60_000);
afterAll(async () => {
  await agg?.close();
}, 30_000);

describe('metric queries', () => {
  test('count_over_time per stream; windows (t-30s, t]', async () => {
    const series = await metric('count_over_time({app="web"}[30s])');
    expect(series).toEqual([
      { labels: { app: 'web', env: 'dev', topic: 'web', source: 'loki' }, points: { 30: '3' } },
      { labels: { app: 'web', env: 'prod', topic: 'web', source: 'loki' }, points: { 30: '6' } },
    ]);
  });

  test('rate, bytes_over_time, bytes_rate', async () => {
    expect(await metric('rate({app="db"}[30s])')).toEqual([
      { labels: { app: 'db', env: 'prod', topic: 'db', source: 'loki' }, points: { 30: '0.1' } },
    ]);
    const bytes = DB.reduce((n, line) => n + line.length, 0);
    // T0+10, +20, +30 are in both (T0-30s, T0+30] and (T0, T0+60]
    expect((await metric('sum(bytes_over_time({app="db"}[1m]))'))[0].points).toEqual({ 30: String(bytes), 60: String(bytes) });
    expect((await metric('sum(bytes_rate({app="db"}[1m]))'))[0].points).toEqual({ 30: String(bytes / 60), 60: String(bytes / 60) });
    // a 20 s window at T0+30 holds only T0+20 and T0+30 ("query two", "q3")
    expect((await metric('sum(bytes_over_time({app="db"}[20s]))'))[0].points).toEqual({ 30: String(DB[1]!.length + DB[2]!.length) });
  });

  test('sum/avg/min/max/count/topk/bottomk with by and without', async () => {
    expect(await metric('sum by (env) (count_over_time({app=~"web|db"}[30s]))')).toEqual([
      { labels: { env: 'dev' }, points: { 30: '3' } },
      { labels: { env: 'prod' }, points: { 30: '9' } },
    ]);
    expect(await metric('sum without (topic, source, env) (count_over_time({app="web"}[30s]))')).toEqual([
      { labels: { app: 'web' }, points: { 30: '9' } },
    ]);
    expect((await metric('avg(count_over_time({app="web"}[30s]))'))[0].points).toEqual({ 30: '4.5' });
    expect((await metric('min(count_over_time({app="web"}[30s]))'))[0].points).toEqual({ 30: '3' });
    expect((await metric('max(count_over_time({app="web"}[30s])) by (app)'))[0]).toEqual({ labels: { app: 'web' }, points: { 30: '6' } });
    expect((await metric('count(count_over_time({app="web"}[30s]))'))[0].points).toEqual({ 30: '2' });
    expect(await metric('topk(1, count_over_time({app="web"}[30s]))')).toEqual([
      { labels: { app: 'web', env: 'prod', topic: 'web', source: 'loki' }, points: { 30: '6' } },
    ]);
    expect((await metric('bottomk(1, count_over_time({app="web"}[30s]))'))[0].labels.env).toBe('dev');
  });

  test('vector(n), arithmetic with scalars and between vectors, comparisons with and without bool', async () => {
    expect(await metric('sum(count_over_time({app="db"}[30s])) * 2 + vector(1)')).toEqual([{ labels: {}, points: { 30: '7' } }]);
    expect(await metric('vector(1) + vector(2) * 3 ^ 2 ^ 0.5 - 4 / 2')).toEqual([
      {
        labels: {},
        points: { 0: String(1 + 2 * 3 ** (2 ** 0.5) - 2), 30: String(1 + 2 * 3 ** (2 ** 0.5) - 2), 60: String(1 + 2 * 3 ** (2 ** 0.5) - 2) },
      },
    ]);
    expect(await metric('(vector(1) + vector(2)) * 3')).toEqual([{ labels: {}, points: { 0: '9', 30: '9', 60: '9' } }]);
    expect(await metric('vector(3) / 2')).toEqual([{ labels: {}, points: { 0: '1.5', 30: '1.5', 60: '1.5' } }]);
    expect((await metric('count_over_time({app="web"}[30s]) > 4')).map((s: { labels: { env: string } }) => s.labels.env)).toEqual(['prod']);
    expect((await metric('count_over_time({app="web"}[30s]) > bool 4')).map((s: { points: object }) => s.points)).toEqual([{ 30: '0' }, { 30: '1' }]);
    // an instant query of a metric: a vector at the given time
    const instant = JSON.parse(
      (await request(`/loki/api/v1/query?${new URLSearchParams({ query: 'sum(count_over_time({app="web"}[30s]))', time: ns(T0 + 30) })}`)).body,
    );
    expect(instant).toEqual({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [T0 + 30, '9'] }] } });
  });
});

describe('parsers and filters', () => {
  test('| logfmt with numeric, duration and byte-size label filters, and/or, parentheses', async () => {
    const prod = '{app="web", env="prod"} | logfmt';
    expect(await lines(`${prod} | status >= 500`)).toEqual([WEB_PROD[1], WEB_PROD[5]].sort());
    expect(await lines(`${prod} | took > 1s`)).toEqual([WEB_PROD[1], WEB_PROD[5]].sort());
    expect(await lines(`${prod} | size > 2KB`)).toEqual([WEB_PROD[1]]);
    expect(await lines(`${prod} | status = 200 or path = "/b"`)).toEqual([WEB_PROD[0], WEB_PROD[1], WEB_PROD[3], WEB_PROD[5]].sort());
    expect(await lines(`${prod} | (status=404 or status=503) and path=~"/[ab]"`)).toEqual([WEB_PROD[2], WEB_PROD[5]].sort());
    expect(await lines(`${prod} | __error__ != ""`)).toEqual([WEB_PROD[4]]);
  });

  test('| json flattens nested keys with _, sets __error__ on a line that is not JSON', async () => {
    expect(await lines('{env="dev"} | json | req_ms > 100')).toEqual([WEB_DEV[1]]);
    expect(await lines('{env="dev"} | json | __error__ = "JSONParserErr"')).toEqual(['not json']);
    expect(await lines('{env="dev"} | json | req_ms > 100 | line_format "{{.req_path}} took {{ .req_ms }}"')).toEqual(['/y took 900']);
    // a line filter SQL can check on the payload text (scan.ts prefilter) and ones it must not
    expect(await lines('{env="dev"} |= "req"')).toEqual([WEB_DEV[0], WEB_DEV[1]].sort());
    expect(await lines('{env="dev"} |= "\\"path\\":\\"/y\\""')).toEqual([WEB_DEV[1]]);
    expect(await lines('{app="web"} |= "path=/b"')).toEqual([WEB_PROD[1], WEB_PROD[5]].sort());
  });

  test('keep and drop (by name and by name and value)', async () => {
    const keep = await query({ query: '{env="dev"} |= "status" | json | keep app, status', start: ns(T0), end: ns(T0 + 60) });
    expect(
      keep.data.result
        .map((s: { stream: object }) => s.stream)
        .sort((a: { status: string }, b: { status: string }) => (a.status < b.status ? -1 : 1)),
    ).toEqual([
      { app: 'web', status: '200' },
      { app: 'web', status: '500' },
    ]);
    const drop = await query({
      query: '{env="dev"} |= "status" | json | drop status="200", req_path, req_ms, topic, source',
      start: ns(T0),
      end: ns(T0 + 60),
    });
    expect(drop.data.result.map((s: { stream: object }) => s.stream)).toContainEqual({ app: 'web', env: 'dev' });
    expect(drop.data.result.map((s: { stream: object }) => s.stream)).toContainEqual({ app: 'web', env: 'dev', status: '500' });
  });
});

// A small seeded generator (mulberry32): the same hundred strings every run.
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID = [
  '{app="web"} |= "a" | logfmt | status >= 500',
  'sum by (env) (count_over_time({app="web"} | json [1m]))',
  'topk(2, rate({app=~"w.+"}[5m])) / 2',
  '{app="web", env!="dev"} |~ "(?i)err" != "x" | drop __error__',
];
const MALFORMED = [
  '{app="web"',
  'app="web"}',
  '{}',
  '{app=~".*"}',
  '{app="web"} |= ',
  '{app="web"} | json |',
  'sum(count_over_time({app="web"}))',
  'count_over_time({app="web"}[1x])',
  'rate({app="web"}[5m]',
  '{app="web"} |~ "(a"',
  '{app="web"} |~ "(a)\\\\1"',
  '{app="web"} |~ "(?<=a)b"',
  '{app="web"} |~ "a{2000}"',
  '{app="web"} |= "\\q"',
  'vector(',
  'topk(count_over_time({app="web"}[1m]))',
  '{app="web"} | pattern "<a>"',
  '{app="web"} | unwrap x',
  'avg_over_time({app="web"} | unwrap x [1m])',
  'sum(count_over_time({app="web"}[1m] offset 5m))',
  'x'.repeat(20_000),
  '',
  '   ',
];

describe('bounds: every bad request is a 400 with a message, never a 500 or a hang', () => {
  test(`${MALFORMED.length} known-malformed queries are 400 "parse error ..."`, async () => {
    for (const text of MALFORMED) {
      const { status, body } = await request(`/loki/api/v1/query_range?${new URLSearchParams({ query: text, start: ns(T0), end: ns(T0 + 60) })}`);
      expect({ text: text.slice(0, 60), status }).toEqual({ text: text.slice(0, 60), status: 400 });
      expect(body).toMatch(/^(parse error|invalid parameter)/);
    }
  });

  test('a hundred seeded mutations of valid queries: each 200 or 400, most 400', async () => {
    const next = random(20261207);
    const alphabet = '{}()[]|=~!"`,.*+?^$\\ abc123';
    let refused = 0;
    for (let i = 0; i < 100; i++) {
      let text = VALID[i % VALID.length]!;
      for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
        const at = Math.floor(next() * text.length);
        const kind = next();
        if (kind < 0.4) text = text.slice(0, at) + text.slice(at + 1);
        else if (kind < 0.8) text = text.slice(0, at) + alphabet[Math.floor(next() * alphabet.length)] + text.slice(at);
        else text = text.slice(0, at);
      }
      const { status, body } = await request(`/loki/api/v1/query_range?${new URLSearchParams({ query: text, start: ns(T0), end: ns(T0 + 60) })}`);
      expect({ text, status: status === 200 || status === 400 }).toEqual({ text, status: true });
      if (status === 400) {
        refused++;
        expect(body.length).toBeGreaterThan(0);
      }
    }
    expect(refused).toBeGreaterThan(50);
  });

  test('a regex catastrophic for a backtracking engine runs in linear time over a 20,000-character line', async () => {
    // (a+)+$ and (a|aa)*b take exponential time in JavaScript's RegExp on this line; RE2 cannot.
    expect(await lines('{app="regex"} |~ "(a+)+$"')).toEqual([]);
    expect(await lines('{app="regex"} |~ "^(a|aa)*b"')).toEqual([]);
    expect(await lines('{app="regex"} |~ "(a+)+!$"')).toEqual([CATASTROPHIC_LINE]);
  });

  test('huge ranges, too many points, bad limits and times are 400', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ query: '{app="web"}', start: '0', end: ns(T0) }, /query time range exceeds the limit/],
      [{ query: 'count_over_time({app="web"}[1m])', start: ns(T0), end: ns(T0 + 86_400), step: '1s' }, /maximum resolution of 11000 points/],
      [{ query: '{app="web"}', limit: '5001' }, /max entries limit/],
      [{ query: '{app="web"}', limit: 'abc' }, /invalid parameter "limit"/],
      [{ query: '{app="web"}', start: 'yesterday' }, /invalid parameter "start"/],
      [{ query: '{app="web"}', start: ns(T0 + 10), end: ns(T0) }, /invalid parameter "end"/],
      [{ query: '{app="web"}', direction: 'sideways' }, /invalid parameter "direction"/],
      [{ query: 'count_over_time({app="web"}[1m])', step: '-5s' }, /invalid parameter "step"/],
      [{}, /invalid parameter "query"/],
    ];
    for (const [params, message] of cases) {
      const { status, body } = await request(`/loki/api/v1/query_range?${new URLSearchParams(params)}`);
      expect({ params, status }).toEqual({ params, status: 400 });
      expect(body).toMatch(message);
    }
  });

  test('more than 500 series is a 400; 500 of them is not', async () => {
    const range = `start=${ns(T0)}&end=${ns(T0 + 60)}&step=30s`;
    const over = await request(`/loki/api/v1/query_range?query=${encodeURIComponent('count_over_time({app="many"}[1m])')}&${range}`);
    expect(over.status).toBe(400);
    expect(over.body).toBe('maximum of series (500) reached for a single query');
    const under = await request(`/loki/api/v1/query_range?query=${encodeURIComponent('count_over_time({app="many", shard!="0"}[1m])')}&${range}`);
    expect(under.status).toBe(200);
    expect(JSON.parse(under.body).data.result).toHaveLength(500);
  });

  test('the response byte budget and the query time limit are 400s (engine with small bounds)', async () => {
    const engine = (limits: Partial<QueryLimits>) =>
      new QueryEngine({
        sql: agg.aggregator.sql,
        horizon: agg.aggregator.horizon,
        budget: new ReadBudget(1 << 30),
        limits: { ...QUERY_LIMITS, ...limits },
      });
    const params = { query: '{app="web"}', start: ns(T0), end: ns(T0 + 60), limit: '1000' };
    // positive control: the same query within the default bounds succeeds
    expect(await engine({}).queryRange(params, [])).toMatchObject({ status: 'success' });
    expect(engine({ maxResponseBytes: 200 }).queryRange(params, [])).rejects.toThrow(
      new QueryRejected('the response would exceed 200 bytes: lower the limit or narrow the query'),
    );
    expect(engine({ timeoutMs: -1 }).queryRange(params, [])).rejects.toThrow(/query timed out/);
    expect(engine({ maxScanBytes: 10, chunkRows: 5 }).queryRange(params, [])).rejects.toThrow(/would read more than 10 bytes/);
  });
});
