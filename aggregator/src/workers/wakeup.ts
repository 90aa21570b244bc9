/**
 * Wakes idle workers when the inbox gains rows: as many as there are partitions with new rows,
 * not all of them. A commit wakes this process's idle workers directly, and counts its busy
 * ones too (each leases again as soon as its batch commits). Other replicas are told only when
 * this one is saturated, every local worker busy (or WORKERS=0): while a local worker was idle,
 * the local loops take the rest of the partitions on their next lease, and a remote worker
 * woken for them leased nothing (measured: one empty lease per idle replica per request with
 * 6 replicas and publishes to one). The partitions they cannot cover are announced with a
 * NOTIFY on `logbus_inbox`, and each of those wakes one worker per notification: with several idle
 * replicas, waking the full count on each would make all but one lease for nothing, while one
 * each ramps up within a few notifications (one per 10 ms window) under sustained overload.
 * Before, every commit woke every idle worker of every replica, and nearly all of them ran an
 * empty lease transaction (bench/wakeups.ts). The NOTIFY is a hint only: workers re-read the
 * inbox, and a slow poll covers a lost notification.
 */
import { randomUUID } from 'node:crypto';
import type { Sql } from '../db/client';
import { PARTITION_COUNT } from '../db/schema';
import type { Logger } from '../log';

export const INBOX_CHANNEL = 'logbus_inbox';

/** Sent at most once per window, after the commits it announces (trailing edge). */
const NOTIFY_WINDOW_MS = 10;

export class Wakeup {
  private waiters: (() => void)[] = [];
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;
  /** Partitions announced in the current window that no local worker was woken for. */
  private uncovered = 0;
  /** Worker loops of this process (WorkerPool.start sets it); busy = workers - idle. */
  workers = 0;
  /** Tells this replica's own notifications apart (it listens on the channel too). */
  private readonly id = randomUUID().slice(0, 8);

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
  ) {}

  /** Resolves on the next wake-up or after `timeoutMs`, whichever comes first. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      // The current array, not the one this waiter joined: wakeLocal replaces it, and a waiter
      // that timed out but stayed in the new one was woken in place of a live worker (which
      // then slept on until its poll: 0.6 s from publish to visible at idle).
      const done = () => {
        clearTimeout(timer);
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.push(done);
    });
  }

  /** Wakes up to `count` of this process's idle workers (all by default); returns how many. */
  wakeLocal(count = Number.POSITIVE_INFINITY): number {
    // The longest-idle first. A copy: each waiter removes itself from `waiters` as it runs, and
    // iterating the array being spliced skipped every other waiter (drain then waited out the
    // 2 s idle poll).
    const woken = this.waiters.slice(0, count);
    this.waiters = this.waiters.slice(woken.length);
    for (const waiter of woken) waiter();
    return woken.length;
  }

  /**
   * Called after an inbox commit that wrote rows for `partitions` partitions: wakes that many
   * local workers now; what they cannot cover goes to other replicas within the window.
   */
  announce(partitions = PARTITION_COUNT): void {
    const busy = Math.max(0, this.workers - this.waiters.length);
    const woken = this.wakeLocal(partitions);
    const rest = partitions - woken - busy;
    // Not saturated: the local loops will lease the rest as soon as their batches commit.
    if (rest <= 0 || woken > 0) return;
    this.uncovered = Math.min(PARTITION_COUNT, this.uncovered + rest);
    if (this.notifyTimer !== null) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = null;
      const payload = `${this.id}:${this.uncovered}`;
      this.uncovered = 0;
      this.sql`SELECT pg_notify(${INBOX_CHANNEL}, ${payload})`.catch((error) =>
        this.log.debug({ err: error }, 'inbox notify failed; other replicas will poll'),
      );
    }, NOTIFY_WINDOW_MS);
  }

  /** Listens for other replicas' announcements; postgres.js re-listens after reconnecting. */
  async listen(): Promise<void> {
    await this.sql.listen(INBOX_CHANNEL, (payload) => {
      const [sender, count] = payload.split(':');
      if (sender === this.id) return;
      // An empty payload (an older replica) means "wake everyone", as it did.
      this.wakeLocal(count === undefined ? Number.POSITIVE_INFINITY : Math.min(1, Number(count)));
    });
  }

  close(): void {
    if (this.notifyTimer !== null) clearTimeout(this.notifyTimer);
    this.notifyTimer = null;
    this.wakeLocal();
  }
}
