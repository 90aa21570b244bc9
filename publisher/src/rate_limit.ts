/**
 * --rate: a schedule, not a token bucket. Each batch reserves its share of time on one shared
 * timeline, so concurrent senders together keep the average at `perSecond` while the first batch
 * goes out at once. A batch larger than one second's worth simply reserves more than a second.
 */
import { sleep } from "./retry.ts";

/** Reserves send slots at a fixed events-per-second rate. */
export class RateLimiter {
  #next = 0;
  constructor(readonly perSecond: number, readonly now: () => number = () => performance.now()) {}

  /** Reserve `events` worth of time; returns how long the caller must wait first (ms). */
  reserve(events: number): number {
    const now = this.now();
    const start = Math.max(this.#next, now);
    this.#next = start + (events / this.perSecond) * 1000;
    return start - now;
  }

  /** Wait for this batch's slot; rejects if `signal` aborts (the overall deadline). */
  async take(events: number, signal?: AbortSignal): Promise<void> {
    const wait = this.reserve(events);
    if (wait > 0) await sleep(wait, signal);
  }
}
