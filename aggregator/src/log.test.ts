import { describe, expect, test } from 'bun:test';
import { formatPretty } from './log';

describe('on a terminal', () => {
  test('lines are short and readable, with the error stack and its cause below', () => {
    const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');
    const line = JSON.stringify({
      level: 40,
      time: '2025-01-31T12:00:00.123Z',
      pid: 1,
      msg: 'request',
      reqId: 'r1',
      status: 503,
      err: { message: 'storage unavailable', stack: 'Error: storage unavailable\n    at x', cause: { message: 'refused', stack: 'Error: refused' } },
    });
    expect(plain(formatPretty(line))).toBe(
      '12:00:00.123 WARN  request reqId=r1 status=503\n  Error: storage unavailable\n      at x\n  Error: refused\n',
    );
  });

  test('a line that is not JSON is passed through unchanged', () => {
    expect(formatPretty('not json\n')).toBe('not json\n');
  });
});
