/**
 * Runs partition DDL that needs a lock on a parent table the hot path uses (DROP of a partition
 * takes ACCESS EXCLUSIVE on `events` or `event_keys`). `lock_timeout` bounds how long the apply
 * and readers can queue behind us while we wait: a few milliseconds, then we back off and try
 * again, so maintenance yields to traffic instead of stalling it.
 */
import type postgres from 'postgres';

/** SQLSTATE lock_not_available: lock_timeout expired. */
const LOCK_NOT_AVAILABLE = '55P03';

export interface LockRetry {
  /** Upper bound on how long others wait behind one attempt. */
  lockTimeoutMs: number;
  attempts: number;
}

export const DEFAULT_LOCK_RETRY: LockRetry = { lockTimeoutMs: 20, attempts: 50 };

/** Runs `body` in a transaction with a short lock_timeout, retrying while the lock is not granted. */
export async function withShortLocks<T>(
  sql: postgres.Sql,
  body: (tx: postgres.TransactionSql) => Promise<T>,
  retry: LockRetry = DEFAULT_LOCK_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await sql.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL lock_timeout = '${Math.max(1, Math.round(retry.lockTimeoutMs))}ms'`);
        return body(tx);
      })) as T;
    } catch (error) {
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE || attempt >= retry.attempts) throw error;
      // Jittered: let the queued statements through, and don't fall into step with a periodic load.
      await Bun.sleep(20 + Math.random() * 40 * Math.min(attempt, 5));
    }
  }
}

/** A table name we generate ourselves; checked anyway since it is spliced into DDL. */
export function tableName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a generated table name: ${name}`);
  return `"${name}"`;
}
