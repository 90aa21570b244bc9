/**
 * The events NOTIFY (subscribe/notifier.ts) on a real database: the first commit after a quiet
 * window is announced at once, not at the window's end (at idle, every event's subscribers on
 * other replicas waited out the window); commits within a window share one NOTIFY. Counted,
 * not timed: the window is long enough here that nothing could fall outside it.
 */
import { expect, test } from 'bun:test';
import { topicSlotOf } from '../../src/db/partition';
import { createLogger } from '../../src/log';
import { EVENTS_CHANNEL, EventsNotifier } from '../../src/subscribe/notifier';
import { poolsOnOwnDatabase } from '../support/pools';
import { waitFor } from '../support/faults';

const database = poolsOnOwnDatabase('events_notify');

test('the first commit after a quiet window is announced at once; the rest of the window shares one NOTIFY', async () => {
  const sql = database.pool('events-notify-test');
  const listener = database.pool('events-notify-listener', 1);
  const heard: string[] = [];
  await listener.listen(EVENTS_CHANNEL, (payload) => heard.push(payload));
  const woken: (readonly number[] | null)[] = [];
  const notifier = new EventsNotifier(sql, createLogger('silent'), (slots) => woken.push(slots), 60_000);
  const [a, b, c] = ['alpha', 'bravo', 'charlie'].map(topicSlotOf);

  notifier.announce(['alpha']);
  // Sent before announce returned: no timer ran in between.
  expect(notifier.sent).toBe(1);
  notifier.announce(['bravo']);
  notifier.announce(['charlie']);
  // Within the window: held for its end (close() sends it now, as a drain does).
  expect(notifier.sent).toBe(1);
  // Local subscribers are woken at once either way.
  expect(woken).toEqual([[a!], [b!], [c!]]);
  notifier.close();
  expect(notifier.sent).toBe(2);

  // Positive control: both went out, and a replica that hears them wakes the right slots.
  await waitFor('both NOTIFYs heard', () => heard.length === 2, 10_000);
  // (Two statements on a pool may commit in either order.)
  const ascending = (x: number, y: number) => x - y;
  const payloads = heard.map((payload) => payload.split(' ').map(Number).sort(ascending)).sort((x, y) => x.length - y.length);
  expect(payloads).toEqual([[a!], [b!, c!].sort(ascending)]);
}, 30_000);
