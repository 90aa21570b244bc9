/** Exponential backoff, client-go's shapes. */

/**
 * Per-item exponential failure backoff (client-go's ItemExponentialFailureRateLimiter with its
 * workqueue defaults: 5 ms doubling to 1000 s): the n-th consecutive failure of a key waits
 * base * 2^n. `forget` after a success resets the key.
 */
export class ItemBackoff {
  private readonly failures = new Map<string, number>();
  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 1_000_000,
  ) {}

  next(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

/** Jittered exponential delay for the n-th retry of a loop (watch restarts): 800 ms doubling to 30 s, +0..100 %. */
export function retryDelay(attempt: number, baseMs = 800, maxMs = 30_000, random = Math.random): number {
  return Math.min(maxMs, baseMs * 2 ** attempt) * (1 + random());
}

/** A sleep that an AbortSignal ends early. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
