import { describe, expect, test } from 'bun:test';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Topic, isTopic } from './contract';

describe('isTopic', () => {
  test('agrees with the Topic schema that validates requests', () => {
    const schema = TypeCompiler.Compile(Topic);
    const samples = ['a', 'auth.login', 'A_b-c.9', 'a'.repeat(128), 'a'.repeat(129), '', '-a', '.a', '_a', 'a b', 'a/b', 'é', 'a:b', 42, null];
    // Positive control: both answers occur.
    expect(samples.filter((s) => schema.Check(s))).toHaveLength(4);
    for (const sample of samples) expect({ sample, isTopic: isTopic(sample) }).toEqual({ sample, isTopic: schema.Check(sample) });
  });
});
