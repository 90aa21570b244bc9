/**
 * Refuses new events with 429 while the inbox holds more than MAX_PENDING of them, so a publisher
 * faster than the workers meets a bound instead of an ever-growing backlog. The backlog is
 * sampled on a timer, not per request: the bound is soft by at most one sample interval.
 */
import type { Sql } from '../db/client';
import { TooManyRequests } from '../errors';
import { readPending } from '../stats/query';

const SAMPLE_MS = 250;

export class Backpressure {
  private pending = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly maxPending: number,
  ) {}

  start(): void {
    const sample = () =>
      readPending(this.sql).then(
        (pending) => void (this.pending = pending),
        () => {}, // an outage shows up on /publish itself as 503
      );
    void sample();
    this.timer = setInterval(sample, SAMPLE_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** The last sampled backlog. */
  get backlog(): number {
    return this.pending;
  }

  /** Throws TooManyRequests when the sampled backlog is over the bound. */
  check(): void {
    if (this.pending > this.maxPending) {
      throw new TooManyRequests(`backlog of ${this.pending} events exceeds MAX_PENDING (${this.maxPending}); retry later`, 1);
    }
  }
}
