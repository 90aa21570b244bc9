import { describe, expect, test } from 'bun:test';
import { planGenerations } from './generations';

describe('planGenerations', () => {
  test('a first generation when there is none', () => {
    expect(planGenerations([], 1000, 100, 400)).toEqual({ start: 0, drop: [] });
  });

  test('rotates when the newest is one length old, never before', () => {
    expect(planGenerations([{ gen: 3, startedAt: 1000 }], 1099, 100, 400).start).toBeNull();
    expect(planGenerations([{ gen: 3, startedAt: 1000 }], 1100, 100, 400).start).toBe(4);
  });

  test('drops a generation only once its successor started a whole window ago, never the newest', () => {
    const gens = [
      { gen: 1, startedAt: 0 },
      { gen: 2, startedAt: 100 },
      { gen: 3, startedAt: 200 },
    ];
    expect(planGenerations(gens, 499, 1000, 400).drop).toEqual([]);
    expect(planGenerations(gens, 500, 1000, 400).drop).toEqual([1]);
    expect(planGenerations(gens, 10_000, 1000, 400).drop).toEqual([1, 2]);
  });
});
