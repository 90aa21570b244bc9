import { describe, expect, test } from 'bun:test';
import { loadConfig } from '../config';
import { DecodeBudget } from './decode-budget';
import { parsePublishBody } from './parse';

const event = (payload: string, extra = '') => `{"topic":"t","event_id":"1",${extra}"payload":${payload},"source":"s"}`;

const budget = () => new DecodeBudget(loadConfig({}));
const payloadTexts = (text: string, format: 'json' | 'ndjson' = 'json') => parsePublishBody(text, format, budget()).map((c) => c.payloadText);

describe('payload texts', () => {
  const payloads = [
    '{"trace_id":18446744073709551615}',
    '{"x":0.1000000000000000055511151231257827,"e":1E+400}',
    '{"b":1,"2":"two","1":"one"}',
    '{"s":"quote \\" and backslash \\\\","arr":[{"}":"]"},[1,[2,{}]]],"esc":"\\u00e9\\/"}',
    '{}',
    '{ "spaced" : [ 1 , 2 ] }',
  ];

  test('each event of an array, an envelope, a single object and NDJSON keeps its payload text', () => {
    const array = `[${payloads.map((p) => event(p)).join(' , ')}]`;
    expect(payloadTexts(array)).toEqual(payloads);
    const envelope = `{ "events" :\n[${payloads.map((p) => event(p)).join(',')}] }`;
    expect(payloadTexts(envelope)).toEqual(payloads);
    expect(payloadTexts(`  ${event(payloads[0]!)}\n`)).toEqual([payloads[0]]);
    const ndjson = `${payloads.map((p) => event(p)).join('\n\n')}\n`;
    expect(payloadTexts(ndjson, 'ndjson')).toEqual(payloads);
  });

  test('keys and values that look like "payload" do not confuse the scan; the last duplicate wins as in JSON.parse', () => {
    const tricky = `{"topic":"payload","note":{"payload":{"inner":1}},"pay\\u006coad":{"a":1},"payload":{"b":2}}`;
    expect(payloadTexts(`[${tricky}]`)).toEqual(['{"b":2}']);
  });

  test('an envelope with a duplicate events key uses the last, as JSON.parse does', () => {
    const body = `{"events":[${event('{"first":1}')}],"events":[${event('{"a":1}')},${event('{"b":2}')}]}`;
    expect(payloadTexts(body)).toEqual(['{"a":1}', '{"b":2}']);
  });

  test('an element that is not an object, or has no payload, gets none (validation rejects it)', () => {
    expect(payloadTexts('[1, "x", {"topic":"t"}, null]')).toEqual([undefined, undefined, undefined, undefined]);
  });
});
