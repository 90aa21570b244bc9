import { describe, expect, test } from 'bun:test';
import { encodeEvents, formatEvent } from './stream';

describe('SSE message format', () => {
  test('an event is id: <seq>, one data: line and a blank line', () => {
    expect(formatEvent({ seq: 3, json: '{"a":1}' })).toBe('id: 3\ndata: {"a":1}\n\n');
  });

  test('a JSON line break inside data becomes several data: lines that join back to the JSON', () => {
    const json = '{"a":\n1,\r\n"b":2}';
    expect(formatEvent({ seq: 7, json })).toBe('id: 7\ndata: {"a":\ndata: 1,\ndata: "b":2}\n\n');
  });
});

describe('encodeEvents', () => {
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const bytesOf = (text: string) => new TextEncoder().encode(text);

  test('one chunk holding each row as formatEvent writes it, bytes passed through as sent', () => {
    const rows = [
      { seq: 1, json: bytesOf('{"a":"é"}') },
      { seq: 2, json: '{"b":2}' },
      { seq: 5, json: bytesOf('{"c":\n3}') },
    ];
    expect(decode(encodeEvents(rows))).toBe(
      formatEvent({ seq: 1, json: '{"a":"é"}' }) + formatEvent({ seq: 2, json: '{"b":2}' }) + formatEvent({ seq: 5, json: '{"c":\n3}' }),
    );
    // Positive control: the line break really was split over two data: lines.
    expect(decode(encodeEvents([rows[2]!]))).toBe('id: 5\ndata: {"c":\ndata: 3}\n\n');
  });

  test('a carriage return inside bytes is a line break too; no rows is an empty chunk', () => {
    expect(decode(encodeEvents([{ seq: 9, json: bytesOf('{"d":\r4}') }]))).toBe('id: 9\ndata: {"d":\ndata: 4}\n\n');
    expect(encodeEvents([])).toHaveLength(0);
  });
});
