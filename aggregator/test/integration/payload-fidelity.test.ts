/**
 * Payloads come back as their producer sent them: same digits, same key order, through JSON and
 * NDJSON ingest, GET /events and GET /subscribe. JSON.parse would round the 64-bit id, shorten the
 * decimal, turn 1E+400 into null and move the integer-like keys first.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { type TestAggregator, startTestAggregator } from '../support/harness';
import { SseReader } from '../support/sse';

const PAYLOADS = [
  '{"trace_id":18446744073709551615,"span":-9223372036854775808}',
  '{"ratio":0.1000000000000000055511151231257827,"huge":1E+400,"tiny":5e-324}',
  '{"b":1,"2":"two","1":"one","a":{"10":0,"9":0}}',
  '{"text":"caf\\u00e9 \\/ \\"q\\"","raw":"café 😀"}',
];

const eventText = (topic: string, i: number, payload: string) =>
  `{"topic":"${topic}","event_id":"p-${i}","timestamp":"2025-01-31T12:00:00Z","source":"fidelity","payload":${payload}}`;

let agg: TestAggregator;

beforeAll(async () => {
  agg = await startTestAggregator();
}, 60_000);
afterAll(async () => {
  await agg.close();
}, 30_000);

/** PostgreSQL's json_build_object writes `"key" : value`; the payload text itself is untouched. */
const holdsPayload = (text: string, payload: string) => text.includes(`"payload":${payload}}`) || text.includes(`"payload" : ${payload}}`);

/** The payload texts of a topic's events in the raw /events response, in seq order. */
async function pagePayloads(topic: string): Promise<string[]> {
  const text = await (await agg.request(`/events?topic=${topic}&after=0`)).text();
  // Every payload is the last member of its event object in the response.
  return PAYLOADS.map((p) => (holdsPayload(text, p) ? p : `missing: ${p}\nin ${text}`));
}

test('JSON array ingest: GET /events returns every payload text as sent', async () => {
  const body = `[${PAYLOADS.map((p, i) => eventText('fid-json', i, p)).join(',')}]`;
  expect((await agg.publish(body)).status).toBe(202);
  await agg.drained();
  expect(await pagePayloads('fid-json')).toEqual(PAYLOADS);
});

test('NDJSON and single-object ingest keep the text too', async () => {
  const ndjson = PAYLOADS.map((p, i) => eventText('fid-nd', i, p)).join('\n');
  expect((await agg.publish(ndjson, 'application/x-ndjson')).status).toBe(202);
  for (const [i, p] of PAYLOADS.entries()) expect((await agg.publish(eventText('fid-one', i, p))).status).toBe(202);
  await agg.drained();
  expect(await pagePayloads('fid-nd')).toEqual(PAYLOADS);
  expect(await pagePayloads('fid-one')).toEqual(PAYLOADS);
});

test('GET /subscribe sends the same payload texts', async () => {
  const response = await agg.request('/subscribe?topic=fid-sse&after=0');
  const reader = new SseReader(response);
  try {
    const body = `{"events":[${PAYLOADS.map((p, i) => eventText('fid-sse', i, p)).join(',')}]}`;
    expect((await agg.publish(body)).status).toBe(202);
    const seen: string[] = [];
    for (let i = 0; i < PAYLOADS.length; i++) {
      const message = await reader.nextEvent(10_000);
      seen.push(message!.data!);
    }
    expect(seen.map((data, i) => (holdsPayload(data, PAYLOADS[i]!) && data.endsWith('}') ? PAYLOADS[i] : data))).toEqual(PAYLOADS);
  } finally {
    await reader.cancel();
  }
});
