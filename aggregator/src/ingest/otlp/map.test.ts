import { describe, expect, test } from 'bun:test';
import { loadConfig } from '../../config';
import { DecodeBudget } from '../decode-budget';
import { decodeOtlp } from './decode';
import { anyValueToJson, attributesToJson, otlpToEvents } from './map';
import { ExportLogsServiceRequest } from './schema';

describe('anyValueToJson', () => {
  test('maps every AnyValue kind; int64 past 2^53 stays exact text; NaN stays text', () => {
    expect(anyValueToJson({ stringValue: 's' })).toBe('s');
    expect(anyValueToJson({ boolValue: false })).toBe(false);
    expect(anyValueToJson({ intValue: '42' })).toBe(42);
    expect(anyValueToJson({ intValue: '9223372036854775807' })).toBe('9223372036854775807');
    expect(anyValueToJson({ doubleValue: 1.5 })).toBe(1.5);
    expect(anyValueToJson({ doubleValue: 'NaN' })).toBe('NaN');
    expect(anyValueToJson({ bytesValue: new Uint8Array([1, 2, 255]) })).toBe('AQL/');
    expect(anyValueToJson({ arrayValue: { values: [{ intValue: 1 }, { stringValue: 'x' }] } })).toEqual([1, 'x']);
    expect(anyValueToJson({ kvlistValue: { values: [{ key: 'a', value: { boolValue: true } }] } })).toEqual({ a: true });
    expect(anyValueToJson({})).toBeNull();
    expect(anyValueToJson(undefined)).toBeNull();
  });
  test('attributes of the wrong shape are skipped, not thrown on', () => {
    expect(attributesToJson([{ key: 'a', value: { stringValue: 'x' } }, null, { value: {} }, 'junk'])).toEqual({ a: 'x' });
    expect(attributesToJson('not a list')).toEqual({});
  });
  test('a repeated key keeps its first place and its last value, at any depth', () => {
    const kv = (key: string, value: unknown) => ({ key, value });
    const value = {
      kvlistValue: { values: [kv('a', { intValue: 1 }), kv('b', { arrayValue: { values: [{ intValue: 2 }] } }), kv('a', { intValue: 3 })] },
    };
    expect(JSON.stringify(anyValueToJson(value as never))).toBe('{"a":3,"b":[2]}');
  });
  test('a value nested 200,000 levels deep converts without recursion (no stack overflow)', () => {
    const depth = 200_000;
    let value: unknown = { stringValue: 'bottom' };
    for (let level = 0; level < depth; level++) {
      value = level % 2 === 0 ? { arrayValue: { values: [value] } } : { kvlistValue: { values: [{ key: 'k', value }] } };
    }
    let json = anyValueToJson(value as never) as unknown;
    let levels = 0;
    while (typeof json === 'object' && json !== null) {
      json = Array.isArray(json) ? json[0] : (json as Record<string, unknown>).k;
      levels++;
    }
    // Positive control: every level was built and walked down to the leaf.
    expect({ levels, json }).toEqual({ levels: depth, json: 'bottom' });
  });
});

describe('otlpToEvents', () => {
  const request = (records: unknown[], service?: string) => ({
    resourceLogs: [
      {
        resource: { attributes: service ? [{ key: 'service.name', value: { stringValue: service } }] : [] },
        scopeLogs: [{ scope: { name: 'lib' }, logRecords: records }],
      },
    ],
  });
  const options = { topicOverride: null, defaultTopic: 'logs' };

  test('the same record gives the same event_id; a different field gives another', () => {
    const record = { timeUnixNano: '1700000000000000001', body: { stringValue: 'x' } };
    const [a] = otlpToEvents(request([record], 'svc') as never, options);
    const [b] = otlpToEvents(request([{ ...record }], 'svc') as never, options);
    const [c] = otlpToEvents(request([{ ...record, severityText: 'WARN' }], 'svc') as never, options);
    expect(a!.event_id).toBe(b!.event_id);
    expect(a!.event_id).not.toBe(c!.event_id);
    expect(a!.topic).toBe('svc');
    expect(a!.timestamp).toBe('2023-11-14T22:13:20.000000001Z');
  });

  test('no service.name goes to the default topic; observed time stands in for a zero time', () => {
    const [event] = otlpToEvents(request([{ timeUnixNano: '0', observedTimeUnixNano: '1000' }]) as never, options);
    expect(event!.topic).toBe('logs');
    expect(event!.timestamp).toBe('1970-01-01T00:00:00.000001000Z');
    expect(event!.source).toBe('otlp');
  });

  test('a record that is not an object still yields a candidate, which validation rejects', () => {
    expect(otlpToEvents(request([null]) as never, options)).toEqual([{ topic: 'logs' }]);
  });
});

describe('decoded protobuf messages', () => {
  test('unset fields that read as prototype defaults are absent; set ones, even false or 0, are kept', () => {
    const values = [{ boolValue: false }, { intValue: 0 }, { intValue: '18446744073709551615' }, { doubleValue: 0 }, { stringValue: '' }, {}];
    const bytes = ExportLogsServiceRequest.encode(
      ExportLogsServiceRequest.fromObject({
        resourceLogs: [{ scopeLogs: [{ logRecords: values.map((body, i) => ({ timeUnixNano: String(i + 1), body })) }] }],
      }),
    ).finish();
    const events = otlpToEvents(decodeOtlp(bytes, 'protobuf', new DecodeBudget(loadConfig({}))).request, {
      topicOverride: null,
      defaultTopic: 'logs',
    });
    // int64 max as unsigned text wraps to -1: int_value is signed on the wire.
    expect(events.map((e) => (e.payload as { body: unknown }).body)).toEqual([false, 0, -1, 0, '', null]);
    expect((events[0]!.payload as { time_unix_nano: string }).time_unix_nano).toBe('1');
    expect(events[0]!.payload).not.toHaveProperty('severity_text');
    expect(events[0]!.payload).not.toHaveProperty('trace_id');
  });
});
