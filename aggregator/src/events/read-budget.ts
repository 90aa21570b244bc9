/**
 * A replica-wide bound on the bytes that reads hold at once. Each GET /events page and each
 * /subscribe read reserves its byte budget (MAX_PAGE_BYTES, SUBSCRIBE_READ_BYTES) before it
 * reads and returns it once the bytes are ready to send; reads beyond READ_BYTES_IN_FLIGHT
 * wait their turn (FIFO). Without it, memory would grow with the number of readers: each read
 * of large events holds a few copies of itself while in flight (driver buffers, the response).
 */
export class ReadBudget {
  private available: number;
  private readonly waiting: { bytes: number; resolve: () => void }[] = [];

  constructor(private readonly capacity: number) {
    this.available = capacity;
  }

  /** Units held (bytes; reads, for a gate of one unit each) and calls waiting, for tests and metrics. */
  get load(): { active: number; waiting: number } {
    return { active: this.capacity - this.available, waiting: this.waiting.length };
  }

  /** Runs `read` once `bytes` (capped at the capacity, so any read can run alone) are free. */
  async run<T>(bytes: number, read: () => Promise<T>): Promise<T> {
    const reserved = Math.min(bytes, this.capacity);
    if (this.waiting.length > 0 || this.available < reserved) {
      await new Promise<void>((resolve) => this.waiting.push({ bytes: reserved, resolve }));
    } else {
      this.available -= reserved;
    }
    try {
      return await read();
    } finally {
      this.release(reserved);
    }
  }

  private release(bytes: number): void {
    this.available += bytes;
    while (this.waiting.length > 0 && this.available >= this.waiting[0]!.bytes) {
      const next = this.waiting.shift()!;
      this.available -= next.bytes;
      next.resolve();
    }
  }
}
