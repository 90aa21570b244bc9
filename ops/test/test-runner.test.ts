/**
 * scripts/test.ts, the `npm test` runner: its closing summary is what a CI log shows, so it must
 * count results right and name every failed test with its error.
 */
import { describe, expect, test } from 'bun:test';
import { countResults, failedTests } from '../../scripts/test';

const BUN_OUTPUT = [
  'test/a.test.ts:',
  '(pass) first [1.00ms]',
  'error: expect(received).toBe(expected)',
  '',
  'Expected: 1',
  'Received: 2',
  '      at <anonymous> (test/a.test.ts:9:5)',
  '(fail) group > second [12.00ms]',
  '(pass) third [1.00ms]',
  '',
  '1 tests failed:',
  '(fail) group > second [12.00ms]',
  '',
  ' 2 pass',
  ' 1 fail',
  ' 0 skip',
].join('\n');

describe('the npm test runner', () => {
  test('counts bun results', () => {
    expect(countResults(BUN_OUTPUT)).toEqual({ passed: 2, failed: 1, skipped: 0 });
  });

  test('names each failed test with the error printed before it, and nothing of the tests before', () => {
    const failures = failedTests(BUN_OUTPUT);
    expect(failures).toHaveLength(1);
    const [failure] = failures;
    expect(failure?.split('\n')[0]).toBe('(fail) group > second [12.00ms]');
    expect(failure).toContain('Received: 2');
    expect(failure).toContain('test/a.test.ts:9:5');
    expect(failure).not.toContain('(pass) first');
  });

  test('a passing run names no failure (positive control: the output has passes)', () => {
    const passing = BUN_OUTPUT.replaceAll('(fail) group > second', '(pass) group > second');
    expect(passing).toContain('(pass) group > second');
    expect(failedTests(passing)).toEqual([]);
  });
});
