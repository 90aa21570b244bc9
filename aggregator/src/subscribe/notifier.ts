/**
 * Tells subscribers on every replica that topics gained events. A hint only: subscriptions
 * re-read the events table, which stays the source of truth, and the hub's sweep covers a hint
 * that never arrives.
 *
 * - After a worker's commit that stored new events, this replica's subscribers are woken at once
 *   and one `NOTIFY logbus_events, '<slot> <slot> …'` goes out, naming the topic slot
 *   (db/partition.ts topicSlotOf) of every topic that gained events. At most one per
 *   NOTIFY_WINDOW_MS: the first commit after a quiet window is announced at once (at idle, a
 *   subscriber on another replica waited out the window, and a loaded machine's late timer,
 *   for every event: 10-40 ms of the idle latency), later ones together at the window's end.
 *   It is sent after the commits it announces, so a replica that hears it reads them.
 * - Slots, not topic names: the payload stays tiny (at most TOPIC_SLOTS numbers, where names
 *   could pass NOTIFY's 8000-byte limit), and a slot names the topics that can have changed
 *   (plus their slot neighbours, whose subscriptions then read an empty page).
 * - Each replica LISTENs once (postgres.js shares one connection among channels and listens again
 *   after a reconnect); when the listen is (re)established every subscription is woken, because
 *   hints may have been missed while the connection was down.
 */
import type { Sql } from '../db/client';
import { topicSlotOf } from '../db/partition';
import type { Logger } from '../log';

export const EVENTS_CHANNEL = 'logbus_events';

/** One NOTIFY per window at most, like the inbox wake-up (workers/wakeup.ts). */
const NOTIFY_WINDOW_MS = 10;
export class EventsNotifier {
  private readonly slots = new Set<number>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the last NOTIFY went out (performance.now()). */
  private lastSent = Number.NEGATIVE_INFINITY;
  /** NOTIFYs sent (tests count them). */
  sent = 0;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    /** Wakes local subscriptions of topics in these slots; null means all. */
    private readonly wake: (slots: readonly number[] | null) => void,
    private readonly windowMs = NOTIFY_WINDOW_MS,
  ) {}

  /** Called after a commit that stored new events of `topics`. */
  announce(topics: readonly string[]): void {
    const slots = [...new Set(topics.map(topicSlotOf))];
    this.wake(slots);
    for (const slot of slots) this.slots.add(slot);
    if (this.timer !== null) return; // the window's NOTIFY is due: it takes these slots too
    const wait = this.lastSent + this.windowMs - performance.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Starts listening for other replicas' announcements. */
  async listen(): Promise<void> {
    await this.sql.listen(
      EVENTS_CHANNEL,
      (payload) => this.wake(parseSlots(payload)),
      () => this.wake(null),
    );
  }

  /** Sends what is still pending (drain: the last batches' subscribers elsewhere hear of them). */
  close(): void {
    if (this.timer !== null) this.flush();
  }

  private flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const payload = [...this.slots].join(' ');
    this.slots.clear();
    this.lastSent = performance.now();
    this.sent++;
    this.sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${payload})`.catch((error) =>
      this.log.debug({ err: error }, 'events notify failed; other replicas will sweep'),
    );
  }
}

/** Topic slots named by a payload; null (wake everyone) for anything unexpected. */
export function parseSlots(payload: string): number[] | null {
  // Strictly what flush() sends: an empty field would otherwise read as slot 0.
  return /^\d+( \d+)*$/.test(payload) ? payload.split(' ').map(Number) : null;
}
