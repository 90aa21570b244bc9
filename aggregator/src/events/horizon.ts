/**
 * The read horizon: readers (GET /events, /subscribe) see a topic's events only below it, and
 * below it nothing can appear any more. That is what keeps paging gap-free while many
 * transactions apply the same topic in any order (docs/ARCHITECTURE.md "Gap-free paging under parallel apply").
 *
 * Seqs are drawn at ingest (ingest/enqueue.ts) and an event reaches `events` later, from
 * whichever partition holds its key. An event with seq s is final once (1) the transaction
 * that drew s has ended, so s is in the inbox, in `events`, or never will be, and (2) s is no
 * longer in the inbox. In one snapshot:
 *
 *   horizon = least(sealed + 1, lowest inbox id)
 *
 * - Lowest inbox id: a row's id is at most its lowest seq, and a partition's rows are in id
 *   order, so one index probe per partition bounds every seq still waiting. A row leaves the
 *   inbox in the transaction that stores its events: in any snapshot an event is in one place.
 * - Sealed: a value L such that every transaction that drew a seq <= L has ended. A tick reads
 *   L = the sequence's last value and then takes a transaction id X: every drawer of a seq <= L
 *   had its id before drawing (ingest makes sure), hence before X. Once a snapshot's xmin (the
 *   oldest transaction still running) is above X, all of them have ended, and L is sealed for
 *   that snapshot and every later one (xmin never goes back).
 *
 * A tick is one statement in its own transaction (its id is X; commit asynchronous: it writes
 * nothing worth a flush). Ticks run on demand only: a reader waits for one that started after
 * it asked and for the transactions running then to end (at most MAX_SEAL_WAIT_MS), so every
 * event acknowledged and applied before a read is visible to it, and while
 * subscriptions are held back the tracker ticks every HOLD_TICK_MS and wakes those whose next
 * event the horizon has passed. Readers check the recent unsealed (L, X) pairs against their
 * own snapshot, so a pair counts as soon as it is sealed, not a tick later.
 *
 * The price: a write transaction anywhere in the cluster that runs long (including a large
 * apply batch) holds the horizon until it ends, and so does the oldest waiting inbox row.
 */
import type { Sql } from '../db/client';
import type { Logger } from '../log';

/** What a read statement needs to compute the horizon in its own snapshot (horizonCte). */
export interface HorizonBound {
  /** Every seq at or below this is drawn by a transaction known to have ended. */
  sealed: number;
  /** Recent (last value, transaction id) pairs not known to be sealed yet, oldest first. */
  lastValues: number[];
  xids: string[];
}

/** Unsealed pairs kept: newer pairs seal no earlier than older ones, so the oldest can go. */
const MAX_PAIRS = 16;
/** Tick pace while subscriptions wait for the horizon to pass their next event. */
const HOLD_TICK_MS = 10;
/** Least time between two tick starts: a burst of readers shares ticks. */
const MIN_TICK_INTERVAL_MS = 2;
/**
 * Longest a read waits for the transactions that were running when it asked to end (an apply
 * batch, a maintenance step: milliseconds). Past it the read answers with the older horizon:
 * still gap-free, only short of the newest events.
 */
const MAX_SEAL_WAIT_MS = 1_000;

interface Held {
  /** The subscription's next event: it can be read once the horizon is above it. */
  seq: number;
  wake: () => void;
}

export class ReadHorizon {
  private sealed = 0;
  private pairs: { lastValue: number; xid: bigint }[] = [];
  /** The horizon as of the last tick's snapshot (for waking held subscriptions). */
  private lastHorizon = 0;
  private lastStart = Number.NEGATIVE_INFINITY;
  /** A tick not sent yet: callers may share it. */
  private waiting: Promise<void> | null = null;
  /** A tick whose statement was sent. */
  private running: Promise<void> | null = null;
  private readonly held = new Set<Held>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
  ) {}

  /**
   * A bound that covers every seq drawn before this call: a tick started after it, sealed once
   * the transactions running at that tick have ended (waiting at most MAX_SEAL_WAIT_MS). Without
   * the wait, a read right after a publish was applied could miss it whenever any other write
   * transaction happened to be running at the tick.
   */
  async current(): Promise<HorizonBound> {
    await this.refresh();
    const target = this.pairs.at(-1)?.lastValue ?? this.sealed;
    const deadline = performance.now() + MAX_SEAL_WAIT_MS;
    while (this.sealed < target && performance.now() < deadline) await this.refresh();
    return this.bound();
  }

  private bound(): HorizonBound {
    return { sealed: this.sealed, lastValues: this.pairs.map((p) => p.lastValue), xids: this.pairs.map((p) => p.xid.toString()) };
  }

  /**
   * Calls `wake` once the horizon passes `seq` (an applied event a read could not return yet);
   * returns a function that cancels the wait.
   */
  hold(seq: number, wake: () => void): () => void {
    if (seq < this.lastHorizon) {
      wake();
      return () => {};
    }
    const entry: Held = { seq, wake };
    this.held.add(entry);
    if (this.timer === null) this.timer = setInterval(() => void this.refresh().catch(() => {}), HOLD_TICK_MS);
    return () => this.release(entry);
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.held.clear();
  }

  /** Resolves after a tick that started after this call. */
  private refresh(): Promise<void> {
    if (this.waiting) return this.waiting;
    const waiting = (async () => {
      // Yield first, so `this.waiting` below is set before this body can clear it.
      await null;
      if (this.running) await this.running.catch(() => {});
      const pause = this.lastStart + MIN_TICK_INTERVAL_MS - performance.now();
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      // From here on the statement is under way: a later caller needs the next tick.
      this.waiting = null;
      const running = this.tick();
      this.running = running;
      try {
        await running;
      } finally {
        if (this.running === running) this.running = null;
      }
    })();
    this.waiting = waiting;
    return waiting;
  }

  private async tick(): Promise<void> {
    this.lastStart = performance.now();
    // `drawn` is read before the row's pg_current_xact_id() runs, so X is taken after L.
    const [row] = await this.sql<{ last_value: string; xid: string; xmin: string; waiting: string | null }[]>`
      WITH drawn AS MATERIALIZED (
        SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS last_value FROM events_seq
      )
      SELECT
        d.last_value::text AS last_value,
        pg_current_xact_id()::text AS xid,
        pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,
        set_config('synchronous_commit', 'off', true) IS NOT NULL AS async,
        (${lowestWaiting(this.sql)})::text AS waiting
      FROM drawn AS d
    `;
    const xmin = BigInt(row!.xmin);
    for (const pair of this.pairs) if (pair.xid < xmin && pair.lastValue > this.sealed) this.sealed = pair.lastValue;
    this.pairs = this.pairs.filter((pair) => pair.xid >= xmin);
    this.pairs.push({ lastValue: Number(row!.last_value), xid: BigInt(row!.xid) });
    if (this.pairs.length > MAX_PAIRS) this.pairs.shift();
    const waitingId = row!.waiting === null ? Number.POSITIVE_INFINITY : Number(row!.waiting);
    this.lastHorizon = Math.min(this.sealed + 1, waitingId);
    this.wakeHeld();
  }

  private wakeHeld(): void {
    for (const entry of this.held) {
      if (entry.seq >= this.lastHorizon) continue;
      this.release(entry);
      try {
        entry.wake();
      } catch (error) {
        this.log.warn({ err: error }, 'waking a held subscription failed');
      }
    }
  }

  private release(entry: Held): void {
    this.held.delete(entry);
    if (this.held.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

/** The lowest inbox id (at most the lowest seq waiting), one index probe per partition; null when empty. */
const lowestWaiting = (sql: Sql) => sql`
  SELECT min(o.id)
  FROM inbox_leases AS p
  CROSS JOIN LATERAL (SELECT i.id FROM inbox AS i WHERE i.part = p.part ORDER BY i.id LIMIT 1) AS o`;

/**
 * A CTE named `horizon` with one column `h`: the read horizon in the reading statement's own
 * snapshot (pg_current_snapshot() returns the active snapshot, the statement's in READ
 * COMMITTED: PostgreSQL's xid8funcs.c). A read must take it in the same statement as the rows
 * it returns.
 */
export const horizonCte = (sql: Sql, bound: HorizonBound) => sql`
  horizon AS MATERIALIZED (
    SELECT least(
      greatest(
        ${bound.sealed}::int8,
        (SELECT max(p.last_value)
         FROM unnest(${bound.lastValues}::int8[], ${bound.xids}::text[]::xid8[]) AS p(last_value, xid)
         WHERE p.xid < pg_snapshot_xmin(pg_current_snapshot()))
      ) + 1,
      coalesce((${lowestWaiting(sql)}), 9223372036854775807)
    ) AS h
  )`;
