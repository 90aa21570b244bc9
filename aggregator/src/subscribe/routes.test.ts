import { describe, expect, test } from 'bun:test';
import { ValidationError } from '../errors';
import { parseLastEventId } from './routes';

describe('parseLastEventId', () => {
  test('absent or blank is no position; a seq with spaces around it is that seq', () => {
    expect(parseLastEventId(null)).toBeNull();
    expect(parseLastEventId('')).toBeNull();
    expect(parseLastEventId('  ')).toBeNull();
    expect(parseLastEventId('0')).toBe(0);
    expect(parseLastEventId(' 42 ')).toBe(42);
    expect(parseLastEventId('999999999999999')).toBe(999_999_999_999_999);
  });

  test.each(['-1', '1.5', '1e3', 'abc', '0x10', '12 34', '1234567890123456'])('%p is a 400 naming the header', (header) => {
    let error: unknown;
    try {
      parseLastEventId(header);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).details).toEqual([{ index: null, field: 'Last-Event-ID', message: 'expected a seq: a non-negative integer' }]);
  });
});
