import { describe, expect, test } from 'bun:test';
import { Backoff } from './backoff';

describe('Backoff (full jitter)', () => {
  test('the ceiling doubles per attempt up to the cap', () => {
    const backoff = new Backoff(100, 1_000, () => 0.999_999);
    const delays = Array.from({ length: 6 }, () => backoff.next());
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);
  });

  test('a delay is never below half the base, so an error loop cannot hot-spin', () => {
    const backoff = new Backoff(100, 5_000, () => 0);
    for (let i = 0; i < 10; i++) expect(backoff.next()).toBe(50);
  });

  test('delays are spread uniformly below the ceiling', () => {
    const values = [0.1, 0.5, 0.9];
    let i = 0;
    const backoff = new Backoff(1_000, 1_000, () => values[i++]!);
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([500, 500, 900]);
  });

  test('reset starts again from the base', () => {
    const backoff = new Backoff(100, 5_000, () => 0.999_999);
    for (let i = 0; i < 5; i++) backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(99);
  });

  test('many attempts never overflow past the cap', () => {
    const backoff = new Backoff(100, 5_000, () => 0.999_999);
    for (let i = 0; i < 1_000; i++) expect(backoff.next()).toBeLessThanOrEqual(5_000);
  });
});
