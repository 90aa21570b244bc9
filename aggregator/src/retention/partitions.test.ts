import { describe, expect, test } from 'bun:test';
import { missingRanges, pastDeadline } from './partitions';

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

describe('pastDeadline', () => {
  test('a partition expires once its upper bound has passed, never while a deadline in it is ahead', () => {
    const partitions = [p(0, 10), p(10, 20), p(20, 30)];
    // Positive control: at 20 the first two are wholly past.
    expect(pastDeadline(partitions, 20).map((x) => x.lower)).toEqual([0, 10]);
    // At 19 the second still holds a deadline of 19 (not yet passed): it stays, as does the third.
    expect(pastDeadline(partitions, 19).map((x) => x.lower)).toEqual([0]);
    expect(pastDeadline(partitions, 10.5).map((x) => x.lower)).toEqual([0]);
  });
});
