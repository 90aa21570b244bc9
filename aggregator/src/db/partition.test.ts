import { describe, expect, test } from 'bun:test';
import { partitionOf } from './partition';

describe('partitionOf', () => {
  test('a key always lands in one partition, and one topic spreads over all of them', () => {
    const parts = new Set(Array.from({ length: 2000 }, (_, i) => partitionOf('hot', `e-${i}`)));
    expect(parts.size).toBe(32);
    expect(partitionOf('hot', 'e-1')).toBe(partitionOf('hot', 'e-1'));
  });
});
