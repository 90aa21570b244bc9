import { describe, expect, test } from 'bun:test';
import { canonicalLabels, parseLabels } from './labels';

describe('parseLabels', () => {
  test('reads a Prometheus label set with escapes', () => {
    expect(parseLabels('{job="api", env="prod"}')).toEqual({ job: 'api', env: 'prod' });
    expect(parseLabels('{msg="say \\"hi\\"\\n", path="C:\\\\x"}')).toEqual({ msg: 'say "hi"\n', path: 'C:\\x' });
    expect(parseLabels('{}')).toEqual({});
    expect(parseLabels('{a="1",}')).toEqual({ a: '1' });
  });
  test('malformed sets throw', () => {
    for (const bad of ['job="api"', '{job=api}', '{job="api" env="x"}', '{1a="x"}', '{job="unterminated}']) {
      expect(() => parseLabels(bad)).toThrow();
    }
  });
});

describe('canonicalLabels', () => {
  test('the same set in any order is one text', () => {
    expect(canonicalLabels({ b: '2', a: '1' })).toBe(canonicalLabels({ a: '1', b: '2' }));
    expect(canonicalLabels({ a: '1', b: '2' })).toBe('{a="1",b="2"}');
  });
});
