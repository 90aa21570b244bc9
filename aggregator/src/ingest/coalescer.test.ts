import { describe, expect, test } from 'bun:test';
import { EnqueueCoalescer, type WriteEvents } from './coalescer';
import type { Event } from '../api/contract';
import { type InboxRows, inboxRows } from './enqueue';

// The scheduling logic alone: a write function that records each statement's size and lets the
// test decide when it completes. The SQL path is covered by the integration tests.
function controlledWrites(fail: (events: number) => Error | null = () => null) {
  const statements: { size: number; finish: () => void }[] = [];
  const write: WriteEvents = (requests) => {
    const size = requests.reduce((sum, rows) => sum + rows.count, 0);
    return new Promise<void>((resolve, reject) => {
      statements.push({
        size,
        finish: () => {
          const error = fail(size);
          if (error) reject(error);
          else resolve();
        },
      });
    });
  };
  return { write, statements };
}

const batch = (n: number, bad = false): InboxRows =>
  inboxRows(
    Array.from(
      { length: n },
      (_, i): Event => ({ topic: bad ? 'bad' : 't', event_id: `${i}`, timestamp: '2025-01-01T00:00:00Z', source: 's', payload: {} }),
    ),
  );

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('EnqueueCoalescer', () => {
  test('requests arriving while statements are in flight share the next statement', async () => {
    const { write, statements } = controlledWrites();
    const coalescer = new EnqueueCoalescer(write, { maxInFlight: 1, maxEvents: 100 });
    const first = coalescer.enqueue(batch(10));
    const rest = [coalescer.enqueue(batch(5)), coalescer.enqueue(batch(7)), coalescer.enqueue(batch(3))];
    await tick();
    expect(statements.map((s) => s.size)).toEqual([10]);
    statements[0]!.finish();
    await first;
    await tick();
    expect(statements.map((s) => s.size)).toEqual([10, 15]);
    statements[1]!.finish();
    await Promise.all(rest);
  });

  test('a statement never exceeds maxEvents, and a request is never split', async () => {
    const { write, statements } = controlledWrites();
    const coalescer = new EnqueueCoalescer(write, { maxInFlight: 1, maxEvents: 10 });
    const all = [coalescer.enqueue(batch(4)), coalescer.enqueue(batch(4)), coalescer.enqueue(batch(4)), coalescer.enqueue(batch(12))];
    for (let i = 0; i < 4; i++) {
      await tick();
      statements.at(-1)?.finish();
    }
    await Promise.all(all);
    expect(statements.map((s) => s.size)).toEqual([4, 8, 12]);
  });

  test('a statement never exceeds maxBytes either, though one large request still goes alone', async () => {
    const { write, statements } = controlledWrites();
    const coalescer = new EnqueueCoalescer(write, { maxInFlight: 1, maxEvents: 100, maxBytes: 10 });
    const all = [
      coalescer.enqueue(batch(1), 4),
      coalescer.enqueue(batch(1), 4),
      coalescer.enqueue(batch(1), 4),
      coalescer.enqueue(batch(1), 4),
      coalescer.enqueue(batch(1), 40),
    ];
    for (let i = 0; i < 5; i++) {
      await tick();
      statements.at(-1)?.finish();
    }
    await Promise.all(all);
    expect(statements.map((s) => s.size)).toEqual([1, 2, 1, 1]);
  });

  test('an outage fails every request of the statement', async () => {
    const outage = Object.assign(new Error('gone'), { code: 'ECONNREFUSED' });
    const { write, statements } = controlledWrites(() => outage);
    const coalescer = new EnqueueCoalescer(write, { maxInFlight: 1, maxEvents: 100 });
    // Settle-capture every promise at once so no rejection is ever unhandled.
    const outcomes = [batch(1), batch(2), batch(3)].map((events) =>
      coalescer.enqueue(events).then(
        () => 'ok',
        (error) => error,
      ),
    );
    await tick();
    statements[0]!.finish();
    await tick();
    statements[1]!.finish();
    expect(await Promise.all(outcomes)).toEqual([outage, outage, outage]);
    expect(statements).toHaveLength(2);
  });

  test('any other failure is retried request by request, so only the culprit fails', async () => {
    const poison = new Error('bad data');
    // Statements containing the 6-event "bad" request fail: the merged one (6 + 2) and its retry.
    const { write, statements } = controlledWrites((size) => (size === 8 || size === 6 ? poison : null));
    const coalescer = new EnqueueCoalescer(write, { maxInFlight: 1, maxEvents: 100 });
    const blocker = coalescer.enqueue(batch(1));
    const good = coalescer.enqueue(batch(2));
    const bad = coalescer.enqueue(batch(6, true));
    await tick();
    statements[0]!.finish();
    await blocker;
    await tick();
    statements[1]!.finish(); // merged 2 + 6: fails
    await tick();
    for (const retry of statements.slice(2)) retry.finish();
    await good;
    await expect(bad).rejects.toBe(poison);
    expect(statements.map((s) => s.size)).toEqual([1, 8, 2, 6]);
  });
});
