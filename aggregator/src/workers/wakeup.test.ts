/**
 * Wakeup's waiter list without a database (the constructor's pool is never used by wait/wakeLocal):
 * a waiter that timed out must leave the list even after wakeLocal replaced the array it joined,
 * or the next announce wakes that dead entry instead of an idle worker, which then sleeps on
 * until its poll (issue 21: p50 600 ms from publish to visible at idle).
 */
import { expect, test } from 'bun:test';
import type { Sql } from '../db/client';
import { createLogger } from '../log';
import { Wakeup } from './wakeup';

test('a waiter that timed out after a wakeLocal is not woken in place of a live one', async () => {
  const wakeup = new Wakeup(null as unknown as Sql, createLogger('silent'));
  // First waiter times out soon; the second is a live idle worker.
  let expiredResolved = false;
  void wakeup.wait(20).then(() => (expiredResolved = true));
  let liveWoken = false;
  void wakeup.wait(60_000).then(() => (liveWoken = true));
  // A wakeLocal that wakes nobody still replaces the array (today's slice).
  expect(wakeup.wakeLocal(0)).toBe(0);
  await Bun.sleep(60);
  // Positive control: the first waiter did time out.
  expect(expiredResolved).toBe(true);
  // One wake-up must reach the live worker, not the expired entry.
  expect(wakeup.wakeLocal(1)).toBe(1);
  await Bun.sleep(0);
  expect(liveWoken).toBe(true);
  wakeup.close();
});

test('busy counts only live waiters: an expired waiter does not inflate the idle count', async () => {
  const wakeup = new Wakeup(null as unknown as Sql, createLogger('silent'));
  void wakeup.wait(10);
  wakeup.wakeLocal(0);
  await Bun.sleep(40);
  // Nobody is waiting any more: wakeLocal wakes nobody.
  expect(wakeup.wakeLocal()).toBe(0);
  wakeup.close();
});
