/**
 * The read horizon: readers (GET /events, /subscribe) see a topic's events only below it, and
 * below it nothing can appear any more. That is what keeps paging gap-free while many
 * transactions apply the same topic in any order (docs/ARCHITECTURE.md "Gap-free paging under parallel apply").
 *
 * Seqs are drawn at ingest (ingest/enqueue.ts; workers/requeue.ts for re-queued events) and an
 * event reaches `events` later, from whichever partition holds its key. An event with seq s is
 * final once (1) the transaction that drew s has ended, so s is in the inbox, in `events`, or
 * never will be, and (2) s is no longer in the inbox. In one snapshot:
 *
 *   horizon = least(sealed + 1, lowest inbox id)
 *
 * - Lowest inbox id: a row's id is at most its lowest seq, and a partition's rows are in id
 *   order, so one index probe per partition bounds every seq still waiting. A row leaves the
 *   inbox in the transaction that stores its events: in any snapshot an event is in one place.
 * - Sealed: a value L such that every transaction that drew a seq <= L has ended. Every drawer
 *   takes the drawer lock (a transaction-scoped shared advisory lock, DRAWER_LOCK) before its
 *   first nextval. A tick reads L = the sequence's last value, then the drawers holding the lock
 *   in this database (pg_locks): a drawer of a seq <= L locked before drawing, so before L was
 *   read, so it is in that set unless it has already ended. L is sealed once every one of them
 *   has been seen gone (a lock is released after its transaction's commit is visible). Only
 *   logbus's own seq-drawing transactions are in that set: a transaction of another database or
 *   application, a session of ours that draws no seq, a prepared transaction never delay it.
 *
 * Ticks run on demand only: a reader waits for one that started after it asked and for the
 * drawers running then to end (at most MAX_SEAL_WAIT_MS), so every event acknowledged and
 * applied before a read is visible to it, and while subscriptions are held back the tracker
 * ticks every HOLD_TICK_MS and wakes those whose next event the horizon has passed.
 *
 * A drawer cannot hold readers back for long: one whose transaction is older than
 * `drawerTimeoutMs` (a replica frozen mid-statement) is ended with pg_terminate_backend, so its
 * seqs are never used and its publisher gets an error and retries. The other thing that holds
 * the horizon is the oldest waiting inbox row, until the transaction applying it commits.
 *
 * All of this is about one server's memory: after a restart, a crash or a failover, values at
 * or below the old seal may be handed out again (a nextval whose WAL was lost, in a transaction
 * that never committed). Every tick and every read checks that the server is the one the state
 * was read from (serverKey); another, the state starts afresh (docs/ARCHITECTURE.md "A new
 * server starts the seal afresh").
 */
import type { Queryable, Sql } from '../db/client';
import type { Logger } from '../log';

/**
 * Every seq-drawing transaction takes `pg_advisory_xact_lock_shared(DRAWER_LOCK.classid,
 * DRAWER_LOCK.objid)` before its first nextval. Shared: drawers never wait on each other. The
 * key pair is logbus's own ('logb' and issue 21); pg_locks shows it as locktype advisory,
 * classid/objid these, objsubid 2.
 */
export const DRAWER_LOCK = { classid: 0x6c6f6762, objid: 21 } as const;

/** SQL that takes the drawer lock; returns void (non-null), so `(SELECT …) IS NOT NULL` gates a statement on it. */
export const takeDrawerLock = (sql: Queryable) => sql`pg_advisory_xact_lock_shared(${DRAWER_LOCK.classid}::int4, ${DRAWER_LOCK.objid}::int4)`;

/** What a read statement needs to compute the horizon in its own snapshot (horizonCte). */
export interface HorizonBound {
  /** Every seq at or below this was drawn by a transaction that ended before this bound was handed out. */
  sealed: number;
  /**
   * The server `sealed` was read from (serverKey): the reading statement trusts `sealed` only on
   * it. null: not tied to a server (sealed 0, or a bound built by hand in a bench).
   */
  server: string | null;
}

/** What a read route asks for its bound: the primary's ReadHorizon, or StandbyHorizon for reads on a standby. */
export interface HorizonSource {
  current(): Promise<HorizonBound>;
}

/** A drawer transaction seen holding the drawer lock. */
export interface Drawer {
  /** pg_locks.virtualtransaction: names one transaction. */
  vxid: string;
  pid: number | null;
  applicationName: string | null;
  database: string | null;
  /** Seconds since its transaction started (pg_stat_activity.xact_start), as of the tick. */
  ageSeconds: number | null;
}

export interface HorizonOptions {
  /** A drawer whose transaction is older than this is ended (its publisher retries). */
  drawerTimeoutMs: number;
  /** Readers held back longer than this get a warning in the log naming the drawers (at most one per LAG_WARN_EVERY_MS). */
  lagWarnMs: number;
}

export const HORIZON_DEFAULTS: HorizonOptions = {
  // A drawer is one ingest statement: milliseconds, a second for a large one on a loaded server.
  // 4 s keeps a frozen replica's hold on readers under 5 s (plus one tick).
  drawerTimeoutMs: 4_000,
  lagWarnMs: 3_000,
};

/** Unsealed pairs kept: an older pair seals no later than a newer one, so dropping the oldest only delays. */
const MAX_PAIRS = 16;
/** Tick pace while subscriptions wait for the horizon to pass their next event. */
const HOLD_TICK_MS = 10;
/** Least time between two tick starts: a burst of readers shares ticks. */
const MIN_TICK_INTERVAL_MS = 2;
/**
 * Longest a read waits for the drawers that were running when it asked to end (ingest
 * statements: milliseconds). Past it the read answers with the older horizon: still gap-free,
 * only short of the newest events.
 */
const MAX_SEAL_WAIT_MS = 1_000;
const LAG_WARN_EVERY_MS = 10_000;

interface Held {
  /** The subscription's next event: it can be read once the horizon is above it. */
  seq: number;
  wake: () => void;
}

interface Pair {
  lastValue: number;
  /** Drawers holding the lock right after lastValue was read, not yet seen gone. */
  holders: Set<string>;
  /** When the tick that read it started (performance.now()). */
  at: number;
}

export class ReadHorizon implements HorizonSource {
  private sealed = 0;
  /** The server every value below was read from (serverKey; null: none yet). */
  private server: string | null = null;
  private pairs: Pair[] = [];
  /** The horizon as of the last tick's snapshot (for waking held subscriptions). */
  private lastHorizon = 0;
  private lastStart = Number.NEGATIVE_INFINITY;
  private lastWarn = Number.NEGATIVE_INFINITY;
  private readonly terminated = new Set<string>();
  /** A tick not sent yet: callers may share it. */
  private waiting: Promise<void> | null = null;
  /** A tick whose statement was sent. */
  private running: Promise<void> | null = null;
  private readonly held = new Set<Held>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    private readonly options: HorizonOptions = HORIZON_DEFAULTS,
  ) {}

  /**
   * A bound that covers every seq drawn before this call: a tick started after it, sealed once
   * the drawers running at that tick have ended (waiting at most MAX_SEAL_WAIT_MS).
   */
  async current(): Promise<HorizonBound> {
    await this.refresh();
    const target = this.pairs.at(-1)?.lastValue ?? this.sealed;
    const deadline = performance.now() + MAX_SEAL_WAIT_MS;
    while (this.sealed < target && performance.now() < deadline) await this.refresh();
    return { sealed: this.sealed, server: this.server };
  }

  /**
   * How far readers are held back, after a fresh tick: `seconds` since the oldest value not yet
   * sealed was read (0 when every drawn seq is sealed), `events` applied (stored in `events`) at
   * or above the horizon: the events between it and the newest applied seq, which readers cannot
   * see yet. Events still waiting in the inbox are not counted (that is the processing lag).
   */
  async lag(): Promise<{ seconds: number; events: number }> {
    await this.refresh();
    const oldest = this.pairs[0];
    const seconds = oldest ? (performance.now() - oldest.at) / 1000 : 0;
    return { seconds, events: await countHeldBack(this.sql, { sealed: this.sealed, server: this.server }) };
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
    const at = performance.now();
    this.lastStart = at;
    // Two statements, in this order: the drawers are read after L (the proof needs no more).
    // Each reads the server's identity: on a new server (restart, crash, failover) the state
    // starts afresh, and L and the drawers from two servers would seal values the new one may
    // hand out again.
    const [drawn] = await this.sql<{ last_value: string; server: string }[]>`
      SELECT (CASE WHEN is_called THEN last_value ELSE last_value - 1 END)::text AS last_value, ${serverKey(this.sql)} AS server
      FROM events_seq`;
    if (drawn!.server !== this.server) {
      this.reset();
      this.server = drawn!.server;
    }
    // pg_stat_get_activity(pid) for each drawer only: the pg_stat_activity view reads every
    // backend's status even when no drawer runs (1.5 ms of 2.5 per tick with 113 backends).
    const [row] = await this.sql<{ drawers: Drawer[]; waiting: string | null; server: string }[]>`
      SELECT
        ${serverKey(this.sql)} AS server,
        (SELECT coalesce(json_agg(json_build_object(
            'vxid', l.virtualtransaction, 'pid', l.pid, 'applicationName', a.application_name, 'database', current_database(),
            'ageSeconds', extract(epoch FROM clock_timestamp() - a.xact_start))), '[]')
         FROM pg_locks AS l
         LEFT JOIN LATERAL pg_stat_get_activity(l.pid) AS a ON true
         WHERE l.locktype = 'advisory'
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.classid = ${DRAWER_LOCK.classid}::int4::oid AND l.objid = ${DRAWER_LOCK.objid}::int4::oid AND l.objsubid = 2) AS drawers,
        (${lowestWaiting(this.sql)})::text AS waiting
    `;
    // L and the drawers from two servers would seal values the new one may hand out again.
    if (row!.server !== this.server) {
      this.reset();
      return;
    }
    const lastValue = Number(drawn!.last_value);
    const drawers = row!.drawers;
    const running = new Set(drawers.map((d) => d.vxid));
    for (const pair of this.pairs) for (const vxid of pair.holders) if (!running.has(vxid)) pair.holders.delete(vxid);
    this.pairs.push({ lastValue, holders: running, at });
    // A pair with no holder left is sealed, and so is everything below it.
    for (const pair of this.pairs) if (pair.holders.size === 0 && pair.lastValue > this.sealed) this.sealed = pair.lastValue;
    this.pairs = this.pairs.filter((pair) => pair.lastValue > this.sealed);
    if (this.pairs.length > MAX_PAIRS) this.pairs.shift();
    for (const vxid of this.terminated) if (!running.has(vxid)) this.terminated.delete(vxid);
    const waitingId = row!.waiting === null ? Number.POSITIVE_INFINITY : Number(row!.waiting);
    this.lastHorizon = Math.min(this.sealed + 1, waitingId);
    this.wakeHeld();
    this.watch(drawers, at);
  }

  /**
   * Forgets everything read from the server: the sealed value, the pairs, the horizon, the ended
   * drawers (a new server reuses vxids). After a failover to a standby that missed the old
   * primary's last nextvals, or a crash that lost their WAL, values at or below the old seal are
   * handed out again: keeping it would let readers step over them. Costs one tick: the next one
   * seals the new server's value once its drawers have ended.
   */
  private reset(): void {
    if (this.server !== null) this.log.info('read horizon starts afresh: the PostgreSQL server was restarted, recovered from a crash or replaced');
    this.server = null;
    this.sealed = 0;
    this.pairs = [];
    this.lastHorizon = 0;
    this.terminated.clear();
  }

  /** Ends drawers past the timeout; warns (rate-limited) while readers are held back long. */
  private watch(drawers: readonly Drawer[], now: number): void {
    const timeoutSeconds = this.options.drawerTimeoutMs / 1000;
    for (const drawer of drawers) {
      if (drawer.pid === null || drawer.ageSeconds === null || drawer.ageSeconds <= timeoutSeconds || this.terminated.has(drawer.vxid)) continue;
      this.terminated.add(drawer.vxid);
      this.log.warn(
        { backendPid: drawer.pid, applicationName: drawer.applicationName, database: drawer.database, ageSeconds: round(drawer.ageSeconds) },
        'a seq-drawing transaction ran past the drawer timeout and held readers back: ending its backend (its publisher gets an error and retries)',
      );
      this.sql`SELECT pg_terminate_backend(${drawer.pid}::int)`.catch((error) =>
        this.log.warn({ err: error, backendPid: drawer.pid }, 'could not end a stuck seq-drawing backend'),
      );
    }
    const oldest = this.pairs[0];
    if (!oldest || now - oldest.at < this.options.lagWarnMs || now - this.lastWarn < LAG_WARN_EVERY_MS) return;
    this.lastWarn = now;
    this.log.warn(
      {
        lagSeconds: round((now - oldest.at) / 1000),
        holding: drawers.map((d) => ({
          backendPid: d.pid,
          applicationName: d.applicationName,
          database: d.database,
          ageSeconds: d.ageSeconds === null ? null : round(d.ageSeconds),
        })),
      },
      'readers are held back: seq-drawing transactions still running',
    );
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

const round = (seconds: number) => Math.round(seconds * 10) / 10;

/** The lowest inbox id (at most the lowest seq waiting), one index probe per partition; null when empty. */
const lowestWaiting = (sql: Sql) => sql`
  SELECT min(o.id)
  FROM inbox_leases AS p
  CROSS JOIN LATERAL (SELECT i.id FROM inbox AS i WHERE i.part = p.part ORDER BY i.id LIMIT 1) AS o`;

/**
 * Names one incarnation of a PostgreSQL server: its postmaster's start time (a restart, or
 * another server: a promoted standby, a restore) and the shared statistics' reset time, which
 * the server sets when it discards statistics after crash recovery (a backend crash restarts
 * every backend without a new postmaster). Both in microseconds, independent of the session's
 * TimeZone. 8 us per call (pg_stat_get_activity for a pool session, tried first: 160-240 us at
 * load 22 with 109 backends). pg_stat_reset_shared('bgwriter') changes it too: one extra tick.
 */
const serverKey = (sql: Queryable) => sql`(
  (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::int8::text || '/' ||
  coalesce((extract(epoch FROM pg_stat_get_bgwriter_stat_reset_time()) * 1000000)::int8::text, ''))`;

/**
 * The primary's WAL insert position, read after `bound` was handed out, on the server `bound` was
 * sealed on (null on another: a failover in between). Every drawer `bound` covers ended before,
 * so its commit or abort record lies below this position: a standby that has replayed past it
 * sees the outcome of every seq at or below `bound.sealed` (events/standby.ts).
 */
export async function sealedWalPosition(sql: Sql, bound: HorizonBound): Promise<bigint | null> {
  const [row] = await sql<{ lsn: string; same: boolean }[]>`
    SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text AS lsn,
      ${bound.server === null ? sql`true` : sql`${serverKey(sql)} = ${bound.server}`} AS same`;
  return row!.same ? BigInt(row!.lsn) : null;
}

/**
 * A CTE named `horizon` with one column `h`: the read horizon in the reading statement's own
 * snapshot. `sealed` was established before the statement began, and the drawers it waited for
 * released their lock after their commit became visible, so the snapshot sees their rows. A
 * read must take the lowest inbox id in the same statement as the rows it returns. On a server
 * other than the one `sealed` was read from (a failover or crash between the tick and
 * this statement), h is 0: the read returns nothing rather than step over a seq handed out again.
 */
export const horizonCte = (sql: Sql, bound: HorizonBound) => sql`
  horizon AS MATERIALIZED (
    SELECT CASE WHEN ${bound.server === null ? sql`true` : sql`${serverKey(sql)} = ${bound.server}`}
      THEN least(${bound.sealed}::int8 + 1, coalesce((${lowestWaiting(sql)}), 9223372036854775807))
      ELSE 0 END AS h
  )`;

/**
 * Applied events at or above the horizon, in the horizon's own snapshot: one index range probe
 * per topic on (topic, seq) (`events_topic_seq_idx`), empty while nothing is held back. An
 * applied event's topic row is written in its apply transaction, so no topic is missed.
 */
async function countHeldBack(sql: Sql, bound: HorizonBound): Promise<number> {
  const [row] = await sql<{ n: string }[]>`
    WITH ${horizonCte(sql, bound)}
    SELECT coalesce(sum((SELECT count(*) FROM events AS e WHERE e.topic = t.name AND e.seq >= (SELECT h FROM horizon))), 0)::text AS n
    FROM topics AS t`;
  return Number(row!.n);
}
