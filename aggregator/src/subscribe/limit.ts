/**
 * Bounds on subscribers, so nothing a client opens can exhaust a replica:
 * - SubscriberCaps: concurrent streams per replica and per token (per client address when auth
 *   is off); over a cap the route answers 429 with Retry-After.
 * - ReadGate: subscriber database reads in flight at once. They share the pool with ingest and
 *   the workers; postgres.js queues a query when every connection is busy, so a thousand streams
 *   woken together would otherwise queue a thousand reads ahead of the next publish. Behind the
 *   gate they hold at most `limit` connections and wait in our queue, not the pool's.
 */
import { TooManyRequests } from '../errors';
import { ReadBudget } from '../events/read-budget';

/** Seconds a refused subscriber is told to wait: streams end when clients leave or overflow. */
const RETRY_AFTER_S = 5;

export class SubscriberCaps {
  private total = 0;
  private readonly byKey = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerKey: number,
  ) {}

  /** Streams open on this replica. */
  get size(): number {
    return this.total;
  }

  /** Takes one slot for `key` or throws 429; call the returned function exactly once to give it back. */
  acquire(key: string): () => void {
    if (this.total >= this.maxTotal) {
      throw new TooManyRequests(
        `this replica serves its maximum of ${this.maxTotal} subscriptions (SUBSCRIBE_MAX); retry later or on another replica`,
        RETRY_AFTER_S,
      );
    }
    const held = this.byKey.get(key) ?? 0;
    if (held >= this.maxPerKey) {
      throw new TooManyRequests(
        `this client holds its maximum of ${this.maxPerKey} subscriptions on this replica (SUBSCRIBE_MAX_PER_TOKEN); close one first`,
        RETRY_AFTER_S,
      );
    }
    this.total++;
    this.byKey.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byKey.get(key) ?? 1) - 1;
      if (left === 0) this.byKey.delete(key);
      else this.byKey.set(key, left);
    };
  }
}

/** Subscriber reads in flight at once: a ReadBudget of `limit` units, one per read (FIFO). */
export class ReadGate {
  private readonly slots: ReadBudget;

  constructor(limit: number) {
    this.slots = new ReadBudget(limit);
  }

  /** Reads in flight and waiting (for tests and metrics). */
  get load(): { active: number; waiting: number } {
    return this.slots.load;
  }

  run<T>(read: () => Promise<T>): Promise<T> {
    return this.slots.run(1, read);
  }
}
