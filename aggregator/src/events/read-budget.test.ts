import { expect, test } from 'bun:test';
import { ReadBudget } from './read-budget';

test('reads beyond the capacity wait, in order, and a read larger than the capacity runs alone', async () => {
  const budget = new ReadBudget(10);
  const log: string[] = [];
  const gates: Record<string, () => void> = {};
  const read = (name: string, bytes: number) =>
    budget.run(bytes, () => {
      log.push(`start ${name}`);
      return new Promise<void>((resolve) => (gates[name] = resolve));
    });
  const a = read('a', 6);
  const b = read('b', 6); // waits: 6 + 6 > 10
  const c = read('c', 50); // waits behind b; then alone
  await Bun.sleep(1);
  expect(log).toEqual(['start a']);
  gates.a!();
  await a;
  await Bun.sleep(1);
  expect(log).toEqual(['start a', 'start b']);
  gates.b!();
  await b;
  await Bun.sleep(1);
  expect(log).toEqual(['start a', 'start b', 'start c']);
  gates.c!();
  await c;
});
