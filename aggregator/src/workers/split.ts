/**
 * One batch never stalls the rest. When applying a partition's batch fails for a reason that is
 * not an outage (a statement_timeout on a huge row, an event PostgreSQL refuses), retrying the
 * same rows forever would hold every topic of the partition. Instead each failure makes the
 * partition's next attempt smaller, persistently (carve.ts), down to a single event; an event
 * that still fails alone, several times over, is parked (park.ts): kept, counted as pending,
 * surfaced in the log and metrics, and out of the way of the rest.
 *
 * The limit is per process and per partition; after successes it doubles back to BATCH_SIZE.
 */
import type { Sql } from '../db/client';
import { isUnavailable } from '../errors';
import type { Logger } from '../log';
import { carveHead, readHead } from './carve';
import { type ParkedEvent, parkHead } from './park';

/** A one-event head must fail this many times in a row before it is parked (not a blip). */
const PARK_AFTER_FAILURES = 3;

/** What a failure led to. */
export type SplitOutcome = 'narrowed' | 'carved' | 'parked' | 'none';

/**
 * Whether a failed batch should be retried smaller: an error the server raised for this batch
 * (statement_timeout included), not a lost connection, an outage or a transient conflict.
 */
export function isBatchError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  if (code === '40001' || code === '40P01') return false;
  if (isMissingPartition(error)) return false;
  return code === '57014' || !isUnavailable(error);
}

/**
 * "no partition of relation events found for row": retention maintenance has not yet created the
 * partition for the batch's deadlines (it runs late on a starved machine). A matter of time, not
 * of the events: the batch is retried whole after a back-off, never carved down and parked.
 */
export function isMissingPartition(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '23514' && typeof message === 'string' && message.startsWith('no partition of relation');
}

export class BatchSplitter {
  private readonly limits = new Map<number, number>();
  private readonly singleFailures = new Map<number, number>();

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    private readonly batchSize: number,
    private readonly onParked?: (event: ParkedEvent) => void,
  ) {}

  /** Events the next batch of `part` may claim. */
  limitFor(part: number): number {
    return this.limits.get(part) ?? this.batchSize;
  }

  /** After a committed batch: widen again. */
  succeeded(part: number): void {
    this.singleFailures.delete(part);
    const limit = this.limits.get(part);
    if (limit === undefined) return;
    if (limit * 2 >= this.batchSize) this.limits.delete(part);
    else this.limits.set(part, limit * 2);
  }

  /**
   * After a batch of `part` failed with a batch error: make the next attempt smaller. Runs in
   * its own transaction under the partition lease ('none' if another worker holds it now).
   */
  async failed(part: number, error: unknown): Promise<SplitOutcome> {
    const outcome = await this.sql.begin(async (tx): Promise<SplitOutcome> => {
      const [leased] = await tx`SELECT part FROM inbox_leases WHERE part = ${part} FOR UPDATE SKIP LOCKED`;
      if (!leased) return 'none';
      const head = await readHead(tx, part);
      if (head === null) return 'none';
      const limit = this.limitFor(part);
      if (head.n < limit) {
        // The batch held more than the head row: try the head alone first.
        this.limits.set(part, head.n);
        return 'narrowed';
      }
      if (head.n > 1) {
        const k = Math.floor(head.n / 2);
        await carveHead(tx, part, head, k);
        this.limits.set(part, k);
        return 'carved';
      }
      const failures = (this.singleFailures.get(part) ?? 0) + 1;
      this.singleFailures.set(part, failures);
      this.limits.set(part, 1);
      if (failures < PARK_AFTER_FAILURES) return 'narrowed';
      const parked = await parkHead(tx, part, head.id, String((error as Error).message ?? error));
      if (parked === null) return 'none';
      this.singleFailures.delete(part);
      this.log.error(
        { err: error, part, topic: parked.topic, eventId: parked.eventId },
        'event cannot be applied, even alone: parked (counted as pending; see inbox_parked)',
      );
      this.onParked?.(parked);
      return 'parked';
    });
    if (outcome === 'carved' || outcome === 'narrowed') {
      this.log.warn({ err: error, part, limit: this.limitFor(part), outcome }, 'batch failed; retrying the partition in smaller batches');
    }
    return outcome;
  }
}
