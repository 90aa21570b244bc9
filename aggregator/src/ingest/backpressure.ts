/**
 * Refuses new events with 429 while more than MAX_PENDING of them wait to be applied, so a publisher
 * faster than the workers meets a bound instead of an ever-growing backlog.
 *
 * The backlog is sampled, not read per request: each check uses the last sample and, when that
 * is older than SAMPLE_MS, starts one refresh in the background. So the bound is soft by one
 * sample interval, a publish never waits for the sample, and an idle replica runs no query.
 */
import type { Sql } from '../db/client';
import { TooManyRequests } from '../errors';
import type { DatabaseOutage } from '../ops/outage';

const SAMPLE_MS = 250;

/**
 * Events acknowledged and not yet applied (parked ones included), from the counter rows: 96 small
 * rows, where summing the inbox reads every waiting row and the dead ones the claims leave
 * (measured at 4-7 ms under load with the inbox spread over 32 partitions). Exact: ingest and
 * apply move the counters in the same transactions as the rows.
 */
async function readPending(sql: Sql): Promise<number> {
  const [row] = await sql<{ pending: string }[]>`
    SELECT coalesce(sum(received) - sum(unique_processed) - sum(duplicate_dropped), 0) AS pending FROM counters
  `;
  return Number(row!.pending);
}

export class Backpressure {
  private pending = 0;
  private sampledAt = Number.NEGATIVE_INFINITY;
  private sampling: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly sql: Sql,
    private readonly maxPending: number,
    private readonly outage?: Pick<DatabaseOutage, 'failed' | 'succeeded'>,
  ) {}

  /** Takes a first sample so the bound holds from the first request after a restart. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.refresh();
  }

  stop(): void {
    this.stopped = true;
  }

  /** Throws TooManyRequests when the sampled backlog is over the bound. */
  check(): void {
    if (performance.now() - this.sampledAt > SAMPLE_MS) void this.refresh();
    if (this.pending > this.maxPending) {
      throw new TooManyRequests(`backlog of ${this.pending} events exceeds MAX_PENDING (${this.maxPending}); retry later`, 1);
    }
  }

  private refresh(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const startedAt = performance.now();
    this.sampling ??= readPending(this.sql)
      .then(
        (pending) => {
          this.pending = pending;
          this.sampledAt = performance.now();
          this.outage?.succeeded(startedAt);
        },
        (error) => void this.outage?.failed(error, startedAt), // and on /publish itself as 503
      )
      .finally(() => {
        this.sampling = null;
      });
    return this.sampling;
  }
}
