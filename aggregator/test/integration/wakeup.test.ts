/**
 * Worker wake-ups on a real database: a commit wakes as many idle workers as it wrote partitions,
 * local ones first (busy local ones count: they lease again right after their batch); other
 * replicas hear of what they cannot cover only when every local worker is busy, and wake one
 * worker per notification.
 * Before, every commit woke every idle worker of every replica.
 */
import { expect, test } from 'bun:test';
import { createLogger } from '../../src/log';
import { Wakeup } from '../../src/workers/wakeup';
import { poolsOnOwnDatabase } from '../support/pools';

const database = poolsOnOwnDatabase('wakeup');

/** A replica's Wakeup with `workers` idle loops; `woken()` counts loops woken so far. */
async function replica(workers: number) {
  const sql = database.pool('wakeup-test');
  const wakeup = new Wakeup(sql, createLogger('silent'));
  wakeup.workers = workers;
  await wakeup.listen();
  let woken = 0;
  for (let i = 0; i < workers; i++) void wakeup.wait(60_000).then(() => woken++);
  return { wakeup, woken: () => woken };
}

/** Waits until `counts()` equals `expected` (notifications take a moment), then a little longer. */
async function settle(counts: () => number[], expected: number[]): Promise<number[]> {
  const deadline = Date.now() + 10_000;
  while (JSON.stringify(counts()) !== JSON.stringify(expected) && Date.now() < deadline) await Bun.sleep(20);
  await Bun.sleep(200); // and nobody else is woken late
  return counts();
}

test('a commit wakes one idle worker per partition written, and other replicas only for what is left', async () => {
  const a = await replica(4);
  const b = await replica(4);
  const c = await replica(4);

  // One partition, idle workers here: one local worker, no notification.
  const counts = () => [a.woken(), b.woken(), c.woken()];
  a.wakeup.announce(1);
  expect(await settle(counts, [1, 0, 0])).toEqual([1, 0, 0]);

  // Four partitions, three idle workers and one busy here: all covered, no notification.
  a.wakeup.announce(4);
  expect(await settle(counts, [4, 0, 0])).toEqual([4, 0, 0]);

  // Eight partitions, all four here busy: eight announced; each other replica wakes one.
  a.wakeup.announce(8);
  expect(await settle(counts, [4, 1, 1])).toEqual([4, 1, 1]);

  // Six partitions, three idle workers here: they are woken and no one else is told (the local
  // loops lease the rest next).
  b.wakeup.announce(6);
  expect(await settle(counts, [4, 4, 1])).toEqual([4, 4, 1]);

  // b is now saturated too: a replica ignores its own notification, only c wakes one more.
  b.wakeup.announce(6);
  expect(await settle(counts, [4, 4, 2])).toEqual([4, 4, 2]);
  for (const r of [a, b, c]) r.wakeup.close();
});
