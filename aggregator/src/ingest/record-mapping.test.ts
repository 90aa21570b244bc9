import { describe, expect, test } from 'bun:test';
import { ValidationError } from '../errors';
import { nanosToTimestamp, recordId, topicFromName, topicOverride } from './record-mapping';

describe('topicFromName', () => {
  test('characters outside the topic pattern become "_" and leading separators go', () => {
    expect(topicFromName('unknown_service:node')).toBe('unknown_service_node');
    expect(topicFromName('_internal.logs')).toBe('internal.logs');
    expect(topicFromName('logs-app+2025')).toBe('logs-app_2025');
    expect(topicFromName('x'.repeat(300))!.length).toBe(128);
  });
  test('nothing usable is null', () => {
    expect(topicFromName('')).toBeNull();
    expect(topicFromName('___')).toBeNull();
    expect(topicFromName(42)).toBeNull();
  });
});

describe('topicOverride', () => {
  test('the query parameter wins over the header; none is null', () => {
    const request = new Request('http://x/', { headers: { 'x-logbus-topic': 'from-header' } });
    expect(topicOverride(request, { topic: 'from-query' })).toBe('from-query');
    expect(topicOverride(request, {})).toBe('from-header');
    expect(topicOverride(new Request('http://x/'), {})).toBeNull();
  });
  test('an invalid override is a 400, not rewritten', () => {
    expect(() => topicOverride(new Request('http://x/'), { topic: 'a b' })).toThrow(ValidationError);
    expect(() => topicOverride(new Request('http://x/'), { topic: 'a'.repeat(129) })).toThrow(ValidationError);
    expect(topicOverride(new Request('http://x/'), { topic: 'a'.repeat(128) })).toHaveLength(128);
  });
});

describe('recordId', () => {
  test('is deterministic and separates its parts', () => {
    expect(recordId('a', 'bc')).toBe(recordId('a', 'bc'));
    expect(recordId('a', 'bc')).not.toBe(recordId('ab', 'c'));
    expect(recordId('x')).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('nanosToTimestamp', () => {
  test('keeps all nine fraction digits', () => {
    expect(nanosToTimestamp('1700000000123456789')).toBe('2023-11-14T22:13:20.123456789Z');
    expect(nanosToTimestamp(0n)).toBe('1970-01-01T00:00:00.000000000Z');
  });
  test('out of range or not a number is null', () => {
    expect(nanosToTimestamp('18446744073709551615')).toBe('2554-07-21T23:34:33.709551615Z'); // fixed64's maximum
    expect(nanosToTimestamp('999999999999999999999')).toBeNull();
    expect(nanosToTimestamp('abc')).toBeNull();
  });
});
