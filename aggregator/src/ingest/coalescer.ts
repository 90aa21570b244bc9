/**
 * Group commit for publishes. Requests that arrive while earlier inserts are in flight wait
 * together and are written by one statement: one transaction, one WAL flush, one round trip for
 * many requests. Each request is still atomic (it rides in exactly one transaction) and is
 * acknowledged only after that transaction commits.
 *
 * Under load this is what keeps ingest from crowding out the workers: 50 concurrent clients
 * become a few large statements instead of 50 small ones, each with its own commit and backend.
 */
import { isUnavailable } from '../errors';
import type { InboxRows } from './enqueue';

/**
 * Durably writes the rows of one or more requests in one transaction (enqueueRows bound to a
 * pool); resolves with the number of inbox partitions it wrote to, when known.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a writer may report the partitions it wrote, or nothing
export type WriteEvents = (requests: readonly InboxRows[]) => Promise<number | void>;

interface Waiting {
  rows: InboxRows;
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface CoalescerOptions {
  /** Statements in flight at once; more requests wait and join the next statement. */
  maxInFlight: number;
  /** Upper bound on events per statement (a request is never split). */
  maxEvents: number;
  /**
   * Upper bound on a statement's bytes (a request is never split, so one request alone may
   * exceed it). Without it, a queue of large requests became one statement of hundreds of MiB,
   * built in this process's memory.
   */
  maxBytes?: number;
  /**
   * After each commit, with the partitions it wrote rows for (undefined: unknown): wakes that
   * many workers. Once per statement, not per request riding in it.
   */
  onCommitted?: (partitions: number | undefined) => void;
}

/** A request's size when the caller does not know it: its payload bytes, and some for the other columns. */
function estimateBytes(rows: InboxRows): number {
  let bytes = 128 * rows.count;
  for (const share of rows.parts) bytes += share.bytes;
  return bytes;
}

export class EnqueueCoalescer {
  private queue: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly writeEvents: WriteEvents,
    private readonly options: CoalescerOptions,
  ) {}

  /**
   * Resolves once a request's `rows` are durably committed; rejects if their statement failed.
   * `bytes`: the request's size, when known (the body length), for the statement byte bound.
   */
  enqueue(rows: InboxRows, bytes: number = estimateBytes(rows)): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, bytes, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const group = this.takeGroup();
      this.inFlight++;
      void this.write(group).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private takeGroup(): Waiting[] {
    const group: Waiting[] = [this.queue.shift()!];
    let size = group[0]!.rows.count;
    let bytes = group[0]!.bytes;
    const maxBytes = this.options.maxBytes ?? Number.POSITIVE_INFINITY;
    while (this.queue.length > 0 && size + this.queue[0]!.rows.count <= this.options.maxEvents && bytes + this.queue[0]!.bytes <= maxBytes) {
      const next = this.queue.shift()!;
      size += next.rows.count;
      bytes += next.bytes;
      group.push(next);
    }
    return group;
  }

  private async write(group: Waiting[]): Promise<void> {
    try {
      const partitions = await this.writeEvents(group.map((w) => w.rows));
      this.options.onCommitted?.(partitions ?? undefined);
      for (const waiting of group) waiting.resolve();
    } catch (error) {
      if (group.length === 1 || isUnavailable(error)) {
        for (const waiting of group) waiting.reject(error);
        return;
      }
      // Not an outage: something in one request upset the database. Retry each request alone
      // so only that request fails and the others are not punished for sharing its statement.
      await Promise.all(
        group.map((waiting) =>
          this.writeEvents([waiting.rows]).then((partitions) => {
            this.options.onCommitted?.(partitions ?? undefined);
            waiting.resolve();
          }, waiting.reject),
        ),
      );
    }
  }
}
