/**
 * Reads on a hot standby (READ_DATABASE_URL; docs/SCALING.md "Reads from streaming replicas (hot
 * standby)", way 2). The horizon cannot be computed on a standby: it sees none of the primary's
 * drawer locks, and reads the sequence's logged-ahead value. So the seal is made on the primary
 * as for any read (ReadHorizon), and the standby is read with it only once it has replayed the
 * WAL the seal covers:
 *
 *   bound = primary's horizon; lsn = primary's WAL position after it (sealedWalPosition);
 *   wait (a statement of its own) until the standby's replay position >= lsn;
 *   then the page read, whose snapshot is taken after that replay.
 *
 * A standby snapshot sees a prefix of the primary's commits in WAL order, so past `lsn` it sees
 * the outcome of every drawer of a seq <= sealed, and `least(sealed + 1, lowest inbox id)` in
 * its own snapshot is gap-free there as on the primary. A standby further behind than
 * MAX_REPLAY_WAIT_MS is read with the newest earlier bound it has replayed (older events, never
 * a gap), or with none (an empty page).
 */
import type { Sql } from '../db/client';
import type { Logger } from '../log';
import { type HorizonBound, type HorizonSource, type ReadHorizon, sealedWalPosition } from './horizon';

/** Longest a read waits for the standby to replay what its bound covers. */
const MAX_REPLAY_WAIT_MS = 1_000;
const REPLAY_POLL_MS = 5;
/** Bounds remembered for a standby that lags: an older one is used when the newest is not replayed. */
const MAX_KEPT = 64;

interface Replayable {
  sealed: number;
  /** The primary's WAL position (bytes) once `sealed` held. */
  lsn: bigint;
}

const NOTHING: HorizonBound = { sealed: 0, server: null };

export class StandbyHorizon implements HorizonSource {
  /**
   * Ascending by sealed, all from the primary named `server`. Each entry holds on its own (its
   * position was read after its seal), so concurrent readers may push positions out of order.
   */
  private kept: Replayable[] = [];
  private server: string | null = null;
  private warnedNotStandby = false;

  constructor(
    private readonly horizon: ReadHorizon,
    private readonly primary: Sql,
    private readonly standby: Sql,
    private readonly log: Logger,
  ) {}

  async current(): Promise<HorizonBound> {
    const bound = await this.horizon.current();
    if (bound.server !== this.server) {
      // Another primary (a failover): positions of the old one's WAL say nothing about the new one's.
      this.kept = [];
      this.server = bound.server;
    }
    if (bound.sealed > 0) {
      const lsn = await sealedWalPosition(this.primary, bound);
      if (lsn === null) {
        this.kept = [];
        return NOTHING;
      }
      this.keep({ sealed: bound.sealed, lsn });
    }
    const deadline = performance.now() + MAX_REPLAY_WAIT_MS;
    for (;;) {
      const replayed = await this.replayed();
      if (replayed === null) return this.notStandby(bound);
      const usable = this.kept.findLast((entry) => entry.lsn <= replayed);
      if (usable === this.kept.at(-1) || performance.now() >= deadline) return usable ? { sealed: usable.sealed, server: null } : NOTHING;
      await Bun.sleep(REPLAY_POLL_MS);
    }
  }

  private keep(entry: Replayable): void {
    const last = this.kept.at(-1);
    // The first position seen for a sealed value is enough (a later one only waits longer).
    if (last && last.sealed >= entry.sealed) return;
    this.kept.push(entry);
    if (this.kept.length > MAX_KEPT) this.kept.shift();
  }

  /** The standby's replay position in bytes; null when the server is not in recovery. */
  private async replayed(): Promise<bigint | null> {
    const [row] = await this.standby<{ lsn: string | null }[]>`SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::text AS lsn`;
    return row!.lsn === null ? null : BigInt(row!.lsn);
  }

  /**
   * READ_DATABASE_URL names a server that is not in recovery: a promoted standby, or the primary
   * itself. The primary's bound keeps its server: `horizonCte` then reads it on the primary only,
   * and answers an empty page on any other server rather than risk a gap.
   */
  private notStandby(bound: HorizonBound): HorizonBound {
    if (!this.warnedNotStandby) {
      this.warnedNotStandby = true;
      this.log.warn('READ_DATABASE_URL is not a standby in recovery: GET /events answers from it only if it is the primary itself');
    }
    return bound;
  }
}
