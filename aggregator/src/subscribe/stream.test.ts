import { describe, expect, test } from 'bun:test';
import { formatEvent } from './stream';

describe('SSE message format', () => {
  test('an event is id: <seq>, one data: line and a blank line', () => {
    expect(formatEvent({ seq: 3, json: '{"a":1}' })).toBe('id: 3\ndata: {"a":1}\n\n');
  });

  test('a JSON line break inside data becomes several data: lines that join back to the JSON', () => {
    const json = '{"a":\n1,\r\n"b":2}';
    expect(formatEvent({ seq: 7, json })).toBe('id: 7\ndata: {"a":\ndata: 1,\ndata: "b":2}\n\n');
  });
});
