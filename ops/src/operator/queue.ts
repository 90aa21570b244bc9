/**
 * A work queue keyed by object, with client-go's workqueue semantics:
 * - a key is queued at most once however often it is added (`dirty`);
 * - a key being processed is never handed to a second worker: an add during processing marks it
 *   dirty and it is queued again on `done` (one reconcile per key at a time);
 * - `addRateLimited` requeues after the key's exponential backoff, `forget` resets it;
 * - `addAfter` requeues after a delay (periodic refreshes).
 */
import { ItemBackoff } from './backoff.ts';

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiters: ((key: string | null) => void)[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private shuttingDown = false;

  constructor(
    readonly backoff = new ItemBackoff(),
    private readonly onDepth: (depth: number) => void = () => {},
  ) {
    // Reported from the start: while a worker always waits, keys go straight to it and the
    // queue never grows, and a depth gauge set only on growth would have no sample at all.
    this.onDepth(0);
  }

  get depth(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
      this.onDepth(this.queue.length);
    }
  }

  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    this.timers.add(t);
  }

  /** Requeues after the key's next backoff delay; returns the delay. */
  addRateLimited(key: string): number {
    const ms = this.backoff.next(key);
    this.addAfter(key, ms);
    return ms;
  }

  forget(key: string): void {
    this.backoff.forget(key);
  }

  /** The next key to process (now marked processing), or null once shut down. */
  get(): Promise<string | null> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.onDepth(this.queue.length);
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends processing of `key`; queues it again if it was added meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(null);
  }
}
