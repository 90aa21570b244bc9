import { describe, expect, test } from 'bun:test';
import { missingRanges } from './partitions';

const p = (lower: number, upper: number) => ({ name: `p${lower}`, lower, upper });

describe('missingRanges', () => {
  test('aligned buckets from the one holding `from` up to `to`', () => {
    expect(missingRanges([], 15, 40, 10)).toEqual([
      [10, 20],
      [20, 30],
      [30, 40],
    ]);
  });

  test('existing partitions are skipped and an odd one (the upgrade) leaves the rest of its bucket', () => {
    expect(missingRanges([p(10, 20), p(23, 24)], 10, 40, 10)).toEqual([
      [20, 23],
      [24, 30],
      [30, 40],
    ]);
  });

  test('nothing missing when covered', () => {
    expect(missingRanges([p(0, 10), p(10, 20)], 5, 20, 10)).toEqual([]);
  });
});
