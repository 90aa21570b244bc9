/**
 * A small at-least-once publisher for the fault tests: it spreads requests over the replicas and
 * retries a request until some replica answers 202. Network errors, 5xx and 429 are retried
 * (honouring Retry-After), each retry on the next replica. A request whose answer was lost may
 * have been applied already, so a retry can enqueue the same events twice: that is what
 * deduplication on (topic, event_id) is for, and what these tests check.
 */

export interface RetryingClientOptions {
  /** Give up on one attempt after this long (it counts as a network error). */
  attemptTimeoutMs?: number;
  /** Give up on a request entirely after this long: the test then fails loudly. */
  deadlineMs?: number;
  /** Cap on any single wait, Retry-After included. */
  maxDelayMs?: number;
  /** Sees every attempt: when it was sent and answered (performance.now()) and its outcome. */
  onAttempt?: (attempt: Attempt) => void;
}

export interface Attempt {
  url: string;
  sentAt: number;
  doneAt: number;
  status: number | 'network';
}

export interface ClientCounts {
  /** Requests that eventually got a 202. */
  acknowledged: number;
  attempts: number;
  networkErrors: number;
  /** Answers other than 202, by status. */
  statuses: Record<number, number>;
}

/** One publisher shared by several concurrent lanes. */
export class RetryingClient {
  readonly counts: ClientCounts = { acknowledged: 0, attempts: 0, networkErrors: 0, statuses: {} };
  private next = 0;
  private readonly attemptTimeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxDelayMs: number;
  private readonly onAttempt?: (attempt: Attempt) => void;

  constructor(
    private readonly urls: () => readonly string[],
    options: RetryingClientOptions = {},
  ) {
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 15_000;
    this.deadlineMs = options.deadlineMs ?? 120_000;
    this.maxDelayMs = options.maxDelayMs ?? 2_000;
    this.onAttempt = options.onAttempt;
  }

  /** Publishes `events` as one JSON array; resolves when a replica acknowledged them with 202. */
  async publish(events: readonly unknown[]): Promise<void> {
    const body = JSON.stringify(events);
    const deadline = Date.now() + this.deadlineMs;
    for (let attempt = 0; ; attempt++) {
      const urls = this.urls();
      const url = urls[this.next++ % urls.length]!;
      let delay: number;
      this.counts.attempts++;
      const sentAt = performance.now();
      try {
        const response = await fetch(`${url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.attemptTimeoutMs),
        });
        await response.arrayBuffer();
        this.onAttempt?.({ url, sentAt, doneAt: performance.now(), status: response.status });
        if (response.status === 202) {
          this.counts.acknowledged++;
          return;
        }
        this.counts.statuses[response.status] = (this.counts.statuses[response.status] ?? 0) + 1;
        if (response.status !== 429 && response.status < 500) {
          throw new Error(`publish answered ${response.status}: not retryable, a test bug or a contract break`);
        }
        const retryAfter = Number(response.headers.get('retry-after'));
        delay = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : backoff(attempt);
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('publish answered')) throw error;
        this.counts.networkErrors++;
        this.onAttempt?.({ url, sentAt, doneAt: performance.now(), status: 'network' });
        // A dead replica refuses at once; the next one in the list is tried after a short pause.
        delay = backoff(attempt);
      }
      if (Date.now() + delay > deadline) throw new Error(`publish not acknowledged within ${this.deadlineMs} ms`);
      await Bun.sleep(Math.min(delay, this.maxDelayMs));
    }
  }

  /**
   * Publishes `events` in requests of `batch`, `lanes` requests at a time. `onBatch` runs after
   * each acknowledged request with the number of events acknowledged so far.
   */
  async publishAll(events: readonly unknown[], batch: number, lanes: number, onBatch?: (acknowledged: number) => void): Promise<void> {
    let next = 0;
    let acknowledged = 0;
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (;;) {
          const start = next;
          next += batch;
          if (start >= events.length) return;
          const slice = events.slice(start, start + batch);
          await this.publish(slice);
          acknowledged += slice.length;
          onBatch?.(acknowledged);
        }
      }),
    );
  }
}

/** 50 ms doubling to 1 s, jittered. */
function backoff(attempt: number): number {
  const ceiling = Math.min(1_000, 50 * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
