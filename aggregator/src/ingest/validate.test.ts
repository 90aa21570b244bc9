import { describe, expect, test } from 'bun:test';
import { ValidationError } from '../errors';
import { timestampProblem } from '../api/timestamp';
import { mayHoldUnstorable, sortEvents, validateEvents } from './validate';

/** Candidates built from values, as the protocol routes build them (no payload text). */
const candidatesOf = (values: unknown[]) => values.map((value) => ({ value }));

const valid = { topic: 'auth.login', event_id: 'e-1', timestamp: '2025-01-31T12:00:00Z', source: 'svc', payload: { a: 1 } };

function detailsOf(candidates: unknown[]) {
  try {
    validateEvents(candidatesOf(candidates));
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).details;
  }
  throw new Error('expected a ValidationError');
}

describe('validateEvents', () => {
  test('accepts a valid event unchanged', () => {
    expect(validateEvents(candidatesOf([valid]))).toEqual([valid]);
  });

  test.each([
    ['topic', { topic: '' }],
    ['topic', { topic: '-starts-with-dash' }],
    ['topic', { topic: 'has space' }],
    ['topic', { topic: 'x'.repeat(129) }],
    ['event_id', { event_id: '' }],
    ['event_id', { event_id: 'x'.repeat(257) }],
    ['event_id', { event_id: 42 }],
    ['timestamp', { timestamp: 'yesterday' }],
    ['timestamp', { timestamp: '2025-01-31T12:00:00' }],
    ['timestamp', { timestamp: '2025-02-30T00:00:00Z' }],
    ['timestamp', { timestamp: '9999-12-31T23:30:00-01:00' }],
    ['timestamp', { timestamp: '0001-01-01T00:00:00+00:30' }],
    ['source', { source: '' }],
    ['payload', { payload: [1, 2] }],
    ['payload', { payload: null }],
    ['payload', { payload: 'text' }],
    ['payload', { payload: { text: 'nul \u0000 inside' } }],
    ['payload', { payload: { 'k\u0000': 1 } }],
    ['payload', { payload: { deep: [{ s: '\ud800' }] } }],
    ['source', { source: 'a\u0000b' }],
    ['extra', { extra: true }],
  ])('rejects a bad %s', (field, override) => {
    const details = detailsOf([valid, { ...valid, ...override }]);
    expect(details.length).toBeGreaterThan(0);
    expect(details.every((d) => d.index === 1)).toBe(true);
    expect(details.map((d) => d.field)).toContain(field);
  });

  test('names every missing field', () => {
    const details = detailsOf([{}]);
    expect(details.map((d) => d.field).sort()).toEqual(['event_id', 'payload', 'source', 'timestamp', 'topic']);
  });

  test('a non-object event is reported at its index', () => {
    expect(detailsOf([valid, valid, 7])[0]).toMatchObject({ index: 2 });
  });
});

describe('timestampProblem', () => {
  test.each([
    '2025-01-31T12:00:00Z',
    '2025-01-31t12:00:00z',
    '2025-01-31 12:00:00+05:30',
    '2024-02-29T00:00:00.123456789-08:00',
    '0001-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999999Z',
    '9999-12-31T23:59:59+00:01',
    '0001-01-01T00:00:00-01:00',
  ])('accepts %s', (value) => expect(timestampProblem(value)).toBeNull());
  test.each([
    '2025-13-01T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '2025-01-01T24:00:00Z',
    '2025-01-01T00:00:00+16:00',
    '2025-01-01',
    '2025-01-01T00:00Z',
    '9999-12-31T23:59:60Z',
    '9999-12-31T23:59:59.9999996Z',
    '9999-12-31T23:00:00-01:00',
    '0001-01-01T00:30:00+01:00',
    '0001-01-01T00:00:00.000001+00:01',
  ])('rejects %s', (value) => expect(timestampProblem(value)).not.toBeNull());
});

describe('mayHoldUnstorable', () => {
  test.each([
    ['a NUL escape', '{"a":"x\\u0000y"}'],
    ['a lone high surrogate', '{"a":"\\ud800"}'],
    ['a lone low surrogate, upper case', '{"a":"\\uDC00"}'],
    ['a surrogate pair (walked, then found well formed)', '{"a":"\\ud83d\\ude00"}'],
  ])('is true for %s', (_, text) => expect(mayHoldUnstorable(text)).toBe(true));

  test.each([
    ['plain text', '{"a":"plain"}'],
    ['raw non-ASCII', JSON.stringify({ a: 'héllo 😀' })],
    ['other escapes', '{"a":"\\u00e9\\n"}'],
  ])('is false for %s', (_, text) => expect(mayHoldUnstorable(text)).toBe(false));

  test('with the source text, bad strings are still found whenever the text can hold them', () => {
    const text = JSON.stringify([valid, { ...valid, payload: { log: 'a\u0000b' } }]);
    expect(() => validateEvents(candidatesOf(JSON.parse(text)), text)).toThrow(ValidationError);
    const clean = JSON.stringify([valid, valid]);
    expect(validateEvents(candidatesOf(JSON.parse(clean)), clean)).toHaveLength(2);
  });
});

describe('sortEvents', () => {
  test('keeps the valid events in input order and reports each rejected one by its input index', () => {
    const candidates = [valid, { ...valid, topic: '' }, { ...valid, event_id: 'e-2' }, 'not an event', { ...valid, event_id: 'e-3' }];
    const sorted = sortEvents(candidatesOf(candidates));
    expect(sorted.valid.map((e) => e.event_id)).toEqual(['e-1', 'e-2', 'e-3']);
    expect([...sorted.rejected.keys()]).toEqual([1, 3]);
    expect(sorted.rejected.get(1)!.map((d) => d.field)).toEqual(['topic']);
    // The same checks as validateEvents: what it rejects, sortEvents rejects.
    expect(() => validateEvents(candidatesOf([candidates[1]]))).toThrow(ValidationError);
  });

  test('with the source text, strings PostgreSQL cannot store are still found', () => {
    const text = JSON.stringify([valid, { ...valid, event_id: 'e-2', payload: { log: 'a\u0000b' } }]);
    const sorted = sortEvents(candidatesOf(JSON.parse(text)), text);
    expect(sorted.valid.map((e) => e.event_id)).toEqual(['e-1']);
    expect([...sorted.rejected.keys()]).toEqual([1]);
  });

  test('each valid event keeps its own payload text, whatever was rejected before it', () => {
    const texts = ['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}'];
    const candidates = () => [
      { value: { ...valid, event_id: 'e-1' }, payloadText: texts[0] },
      { value: { ...valid, event_id: 'e-2', topic: '' }, payloadText: texts[1] },
      { value: { ...valid, event_id: 'e-3' } },
      { value: { ...valid, event_id: 'e-4' }, payloadText: texts[3] },
    ];
    const sorted = sortEvents(candidates());
    // Positive control: one rejection before the later ones, so a text re-mapped by position would land on the wrong event.
    expect([...sorted.rejected.keys()]).toEqual([1]);
    expect(sorted.valid.map((e) => [e.event_id, e.payloadJson])).toEqual([
      ['e-1', texts[0]],
      ['e-3', undefined],
      ['e-4', texts[3]],
    ]);
    const [first, , third, fourth] = candidates();
    expect(validateEvents([first!, third!, fourth!]).map((e) => e.payloadJson)).toEqual([texts[0], undefined, texts[3]]);
  });
});
