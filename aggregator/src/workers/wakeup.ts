/**
 * Wakes idle workers when the inbox gains rows. Locally a commit wakes this process's workers
 * directly; across replicas a NOTIFY on `logbus_inbox` does. The NOTIFY is a hint only: workers
 * re-read the inbox, and a slow poll covers a lost notification.
 */
import type { Sql } from '../db/client';
import type { Logger } from '../log';

export const INBOX_CHANNEL = 'logbus_inbox';

/** Sent at most once per window, after the commits it announces (trailing edge). */
const NOTIFY_WINDOW_MS = 10;

export class Wakeup {
  private waiters: (() => void)[] = [];
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
  ) {}

  /** Resolves on the next wake-up or after `timeoutMs`, whichever comes first. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiters = this.waiters;
      function done() {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  /** Wakes this process's idle workers. */
  wakeLocal(): void {
    const waiters = this.waiters;
    this.waiters = [];
    // A copy: each waiter removes itself from `waiters` as it runs, and iterating the array
    // being spliced skipped every other waiter (drain then waited out the 2 s idle poll).
    for (const waiter of [...waiters]) waiter();
  }

  /** Called after an inbox commit: wake local workers now, other replicas within the window. */
  announce(): void {
    this.wakeLocal();
    if (this.notifyTimer !== null) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = null;
      this.sql`SELECT pg_notify(${INBOX_CHANNEL}, '')`.catch((error) =>
        this.log.debug({ err: error }, 'inbox notify failed; other replicas will poll'),
      );
    }, NOTIFY_WINDOW_MS);
  }

  /** Listens for other replicas' announcements; postgres.js re-listens after reconnecting. */
  async listen(): Promise<void> {
    await this.sql.listen(INBOX_CHANNEL, () => this.wakeLocal());
  }

  close(): void {
    if (this.notifyTimer !== null) clearTimeout(this.notifyTimer);
    this.notifyTimer = null;
    this.wakeLocal();
  }
}
