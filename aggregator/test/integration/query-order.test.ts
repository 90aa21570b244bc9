/**
 * Lines of one topic with the same timestamp come in seq order, newest (highest seq) first
 * backward and oldest first forward, also where seqs change their number of digits (9 -> 10):
 * the scan orders by the seq column, not by its text (query/scan.ts).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { type TestAggregator, startTestAggregator } from '../support/harness';

let agg: TestAggregator;
const STAMP = '2026-03-01T12:00:00.000000Z';
const T_NS = BigInt(Date.parse(STAMP)) * 1_000_000n;

beforeAll(async () => {
  agg = await startTestAggregator();
  const events = Array.from({ length: 12 }, (_, i) => ({
    topic: 'same-time',
    event_id: `s-${i + 1}`,
    timestamp: STAMP,
    source: 'app',
    payload: { n: i + 1 },
  }));
  const response = await agg.publish({ events });
  expect(response.status).toBeLessThan(300);
  await agg.drained();
}, 60_000);
afterAll(async () => {
  await agg?.close();
}, 30_000);

async function lines(direction: 'backward' | 'forward'): Promise<number[]> {
  const params = new URLSearchParams({
    query: '{topic="same-time"}',
    start: (T_NS - 1_000_000_000n).toString(),
    end: (T_NS + 1_000_000_000n).toString(),
    limit: '100',
    direction,
  });
  const response = await agg.request(`/loki/api/v1/query_range?${params}`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { data: { result: { values: [string, string][] }[] } };
  return body.data.result.flatMap((stream) => stream.values.map(([, line]) => (JSON.parse(line) as { n: number }).n));
}

test('same-timestamp lines follow seq across a change in its digit count', async () => {
  // Positive control: the events got consecutive seqs in publish order that cross 9 -> 10.
  const rows = await agg.aggregator.sql<{ seq: string; n: number }[]>`
    SELECT seq::text AS seq, (payload->>'n')::int AS n FROM events WHERE topic = 'same-time' ORDER BY events.seq`;
  expect(rows.map((r) => r.n)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  const digits = new Set(rows.map((r) => r.seq.length));
  expect(digits.size).toBeGreaterThan(1);
  const bySeq = rows.map((r) => r.n);
  expect(await lines('backward')).toEqual([...bySeq].reverse());
  expect(await lines('forward')).toEqual(bySeq);
});
