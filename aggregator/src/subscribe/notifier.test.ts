import { describe, expect, test } from 'bun:test';
import { parseSlots } from './notifier';

describe('NOTIFY payload', () => {
  test('names the partitions, space separated', () => {
    expect(parseSlots('3')).toEqual([3]);
    expect(parseSlots('0 7 31')).toEqual([0, 7, 31]);
  });

  test('anything unexpected wakes every subscription (null), never none', () => {
    for (const payload of ['', ' ', '1  2', 'a', '1 x', '1.5', '3 ']) expect(parseSlots(payload)).toBeNull();
  });
});
