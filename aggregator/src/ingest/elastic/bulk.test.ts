import { describe, expect, test } from 'bun:test';
import { loadConfig } from '../../config';
import { DecodeBudget } from '../decode-budget';
import { BulkParseError, parseBulk } from './bulk';

const budget = () => new DecodeBudget(loadConfig({}));

describe('parseBulk', () => {
  test('pairs actions with sources; delete has none, update consumes one; the URL index is the default', () => {
    const text = [
      '{"index":{"_index":"a","_id":"1"}}',
      '{"m":1}',
      '{"delete":{"_id":"2"}}',
      '{"update":{"_id":"3"}}',
      '{"doc":{"m":3}}',
      '',
      '{"create":{}}',
      '{"m":4}',
      '{"index":{}}',
      '[1,2]',
    ].join('\n');
    const items = parseBulk(`${text}\n`, 'url-index', budget());
    expect(items.map((i) => [i.action, i.index, i.id, i.error?.type ?? null])).toEqual([
      ['index', 'a', '1', null],
      ['delete', 'url-index', '2', 'illegal_argument_exception'],
      ['update', 'url-index', '3', 'illegal_argument_exception'],
      ['create', 'url-index', undefined, null],
      ['index', 'url-index', undefined, 'document_parsing_exception'],
    ]);
    expect(items[0]!.doc).toEqual({ m: 1 });
    expect(items[0]!.docText).toBe('{"m":1}');
  });
  test('a broken action line, an unknown action or a missing source fails the whole body', () => {
    expect(() => parseBulk('{"index":\n{}\n', undefined, budget())).toThrow(BulkParseError);
    expect(() => parseBulk('{"upsert":{}}\n{}\n', undefined, budget())).toThrow(/expected one of/);
    expect(() => parseBulk('{"index":{},"create":{}}\n{}\n', undefined, budget())).toThrow(BulkParseError);
    expect(() => parseBulk('{"create":{"_index":"x"}}\n', undefined, budget())).toThrow(/no source line/);
  });
});
