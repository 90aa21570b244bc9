import { describe, expect, test } from 'bun:test';
import { ReadGate } from './limit';

describe('ReadGate', () => {
  test('never more than the limit in flight, FIFO, and a failed read frees its slot', async () => {
    const gate = new ReadGate(2);
    let inFlight = 0;
    let peak = 0;
    const order: number[] = [];
    const read = (i: number) =>
      gate.run(async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await Bun.sleep(5);
        inFlight--;
        order.push(i);
        if (i === 3) throw new Error('read failed');
        return i;
      });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => read(i)));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(gate.load).toEqual({ active: 0, waiting: 0 });
  });
});
