import { describe, expect, test } from 'bun:test';
import { formatDuration, parseDuration } from './duration';

describe('durations', () => {
  test('a whole number and one unit', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('12h')).toBe(43_200_000);
    expect(parseDuration(' 7d ')).toBe(604_800_000);
    expect(parseDuration('2w')).toBe(1_209_600_000);
  });

  test('anything else is rejected, not guessed', () => {
    for (const text of ['', '7', 'd', '1.5d', '1d12h', '-1d', '7 d', '7D', '1y', '9999999999999d']) {
      expect(parseDuration(text)).toBeNull();
    }
  });

  test('formatting picks the largest exact unit and round-trips', () => {
    expect(formatDuration(259_200_000)).toBe('3d');
    expect(formatDuration(1_209_600_000)).toBe('14d');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(1_500)).toBe('1500ms');
    for (const ms of [1, 999, 1_000, 61_000, 3_600_000, 86_400_000 * 10]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
