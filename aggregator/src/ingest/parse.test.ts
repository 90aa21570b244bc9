import { describe, expect, test } from 'bun:test';
import { loadConfig } from '../config';
import { DecodeBudget } from './decode-budget';
import { UnsupportedMediaType, ValidationError } from '../errors';
import { bodyFormat, parseBody } from './parse';

const budget = () => new DecodeBudget(loadConfig({}));

describe('bodyFormat', () => {
  test('JSON and +json read as JSON', () => {
    expect(bodyFormat('application/json')).toBe('json');
    expect(bodyFormat('application/json; charset=utf-8')).toBe('json');
    expect(bodyFormat('application/vnd.logbus+json')).toBe('json');
  });
  test('NDJSON media types', () => {
    expect(bodyFormat('application/x-ndjson')).toBe('ndjson');
    expect(bodyFormat('Application/X-NDJSON; charset=utf-8')).toBe('ndjson');
    expect(bodyFormat('application/jsonl')).toBe('ndjson');
  });
  test('a missing or empty Content-Type is 415 (no cross-site simple request can publish)', () => {
    expect(() => bodyFormat(null)).toThrow(UnsupportedMediaType);
    expect(() => bodyFormat(' ')).toThrow(/missing Content-Type/);
  });
  test('anything else is 415', () => {
    expect(() => bodyFormat('text/plain')).toThrow(UnsupportedMediaType);
    expect(() => bodyFormat('application/x-www-form-urlencoded')).toThrow(UnsupportedMediaType);
  });
});

describe('parseBody', () => {
  const event = { topic: 't', event_id: '1' };
  test('one object, an array, and an envelope give the same list', () => {
    expect(parseBody(JSON.stringify(event), 'json', budget())).toEqual([event]);
    expect(parseBody(JSON.stringify([event, event]), 'json', budget())).toEqual([event, event]);
    expect(parseBody(JSON.stringify({ events: [event] }), 'json', budget())).toEqual([event]);
  });
  test('an object with events and other keys is an event, not an envelope', () => {
    const odd = { events: [1], topic: 't' };
    expect(parseBody(JSON.stringify(odd), 'json', budget())).toEqual([odd]);
  });
  test('NDJSON skips blank lines and indexes events, naming the line', () => {
    expect(parseBody('{"a":1}\n\n{"a":2}\n', 'ndjson', budget())).toEqual([{ a: 1 }, { a: 2 }]);
    try {
      parseBody('{"a":1}\n\nnot json\n', 'ndjson', budget());
      throw new Error('expected ValidationError');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details[0]).toMatchObject({ index: 1, field: null });
      expect((error as ValidationError).details[0]!.message).toStartWith('line 3:');
    }
  });
  test('malformed and empty bodies are 400', () => {
    expect(() => parseBody('{"topic":', 'json', budget())).toThrow(ValidationError);
    expect(() => parseBody('', 'json', budget())).toThrow(/empty body/);
    expect(() => parseBody('\n\n', 'ndjson', budget())).toThrow(/empty body/);
  });
});
