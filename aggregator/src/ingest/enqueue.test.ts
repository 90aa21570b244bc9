import { describe, expect, test } from 'bun:test';
import { partitionOf } from '../db/partition';
import { inboxColumns, inboxRows, statementColumns } from './enqueue';
import type { InboxEvent } from './inbox-event';

/** The first event id (`prefix` + n) whose key lands in `part`. */
function idIn(part: number, prefix: string): string {
  for (let n = 0; ; n++) if (partitionOf('t', `${prefix}${n}`) === part) return `${prefix}${n}`;
}

const event = (event_id: string, payload: Record<string, unknown>, payloadJson?: string): InboxEvent => ({
  topic: 't',
  event_id,
  timestamp: '2025-01-31T12:00:00Z',
  source: 's',
  payload,
  ...(payloadJson === undefined ? {} : { payloadJson }),
});

describe('inboxColumns', () => {
  test('groups events by partition, keeps arrival order within each, and slices the columns per row', () => {
    const a1 = idIn(3, 'a');
    const b1 = idIn(9, 'b');
    const a2 = idIn(3, 'c');
    // Positive control: two partitions, the first holding the first and the third event.
    expect([partitionOf('t', a1), partitionOf('t', b1), partitionOf('t', a2)]).toEqual([3, 9, 3]);
    const columns = inboxColumns([event(a1, { n: 1 }), event(b1, { n: 2 }), event(a2, { n: 3 })]);
    expect(columns.parts).toEqual([3, 9]);
    expect(columns.eventIds).toEqual([a1, a2, b1]);
    // 1-based slices of the columns: partition 3 holds items 1..2, partition 9 item 3.
    expect(columns.firsts).toEqual([1, 3]);
    expect(columns.lasts).toEqual([2, 3]);
    // Each item's place in the statement (its seq is the statement's seq there).
    expect(columns.positions).toEqual([1, 3, 2]);
    expect(columns.payloads).toEqual(['{"n":1}', '{"n":3}', '{"n":2}']);
    for (const column of [columns.topics, columns.timestamps, columns.sources]) expect(column).toHaveLength(3);
  });

  test("a row's bytes are its payloads' UTF-8 bytes, from the text as received when there is one", () => {
    const id = idIn(5, 'x');
    const sent = '{ "big": 12345678901234567890, "é": 1 }';
    const columns = inboxColumns([event(id, JSON.parse(sent), sent), event(idIn(5, 'y'), { é: 'é' })]);
    expect(columns.payloads).toEqual([sent, '{"é":"é"}']);
    expect(columns.bytes).toEqual([Buffer.byteLength(sent) + Buffer.byteLength('{"é":"é"}')]);
    expect(columns.bytes[0]).toBeGreaterThan(sent.length + 9); // multi-byte characters count as bytes
  });
});

describe('statementColumns', () => {
  test('merges requests partition by partition, positions shifted by the requests before, text quoted as an array literal', () => {
    const [a1, b1, a2] = [idIn(3, 'a'), idIn(9, 'b'), idIn(3, 'c')];
    const tricky = '{"q":"say \\"hi\\"","path":"C:\\\\x"}';
    const first = inboxRows([event(a1, { n: 1 }), event(b1, { n: 2 })]);
    const second = inboxRows([event(a2, JSON.parse(tricky), tricky)]);
    const columns = statementColumns([first, second]);
    expect(columns.count).toBe(3);
    expect(columns.parts).toEqual([3, 9]);
    expect([columns.firsts, columns.lasts]).toEqual([
      [1, 3],
      [2, 3],
    ]);
    // a2 is the statement's third event and shares partition 3's row with a1.
    expect(columns.positions).toEqual([1, 3, 2]);
    expect(columns.eventIds).toBe(`{"${a1}","${a2}","${b1}"}`);
    expect(columns.payloads).toBe(`{"{\\"n\\":1}","${tricky.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}","{\\"n\\":2}"}`);
    expect(first.topics).toEqual(['t', 't']);
  });
});

describe('statementColumns for one request', () => {
  test('sends the literals the request was built with, which hold the same elements as a merge would', () => {
    const [a, b, c] = [idIn(3, 'a'), idIn(9, 'b'), idIn(3, 'c')];
    const rows = inboxRows([event(a, { n: 1 }), event(b, { n: 2 }), event(c, { n: 3 })]);
    const alone = statementColumns([rows]);
    expect(alone.payloads).toBe(rows.literals.payloads); // the very string: nothing joined again
    expect(alone.eventIds).toBe(`{"${a}","${c}","${b}"}`);
    expect(alone.positions).toEqual([1, 3, 2]);
    // The spans cut the same literal into the partitions' elements, as a merge uses them.
    const merged = statementColumns([rows, inboxRows([])]);
    expect(merged.payloads).toBe(alone.payloads);
    expect(merged.eventIds).toBe(alone.eventIds);
  });
});
