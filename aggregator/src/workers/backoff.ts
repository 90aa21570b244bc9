/** Exponential backoff with full jitter, for a loop that must never hot-spin on errors. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 100,
    private readonly capMs = 5_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay: uniform in [0, min(cap, base * 2^attempt)), but never below base / 2. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.max(this.baseMs / 2, Math.floor(this.random() * ceiling));
  }

  reset(): void {
    this.attempt = 0;
  }
}
