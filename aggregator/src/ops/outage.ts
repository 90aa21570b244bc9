/**
 * One log line per change of the database's reachability, not one per failed retry or 503: a
 * 23 s outage used to write about 1,700 lines, 54 of them stack traces. The first failure says
 * "database unreachable, retrying" with its cause; every later one is only counted; the first
 * success after it says "database back after N s" with that count. Only a call that began after
 * the outage was seen can end it: one that was already on its way when the server went (its answer
 * arriving after another call's failure) says nothing about now, and counting it wrote a second
 * "unreachable" line for one outage. The same holds the other way: a call begun before the
 * database was back (a connection attempt that timed out meanwhile) that fails after it is an
 * echo of the outage, counted but not a new one.
 */
import { isUnavailable } from '../errors';
import type { Logger } from '../log';

export class DatabaseOutage {
  private downSince: number | null = null;
  /** When the last outage ended (performance.now()). */
  private upSince = Number.NEGATIVE_INFINITY;
  private failures = 0;

  constructor(private readonly log: Logger) {}

  /**
   * True while the database is down (the last call failed for lack of it), and for a call begun
   * before the last outage ended: its failure is that outage's echo (the request log then writes
   * its 503 at debug, as during the outage). Without `startedAt`: whether it is down now.
   */
  covers(startedAt?: number): boolean {
    return this.downSince !== null || (startedAt !== undefined && startedAt < this.upSince);
  }

  /**
   * Notes a failed database call, begun at `startedAt` (performance.now()) when the caller knows.
   * Returns true when `error` is an outage (now counted, so the caller logs nothing of its own),
   * false for any other error (the caller logs it as before).
   */
  failed(error: unknown, startedAt?: number): boolean {
    if (!isUnavailable(error)) return false;
    if (this.downSince === null && this.covers(startedAt)) return true; // an echo
    this.failures++;
    if (this.downSince === null) {
      this.downSince = performance.now();
      const { code, message } = error as { code?: unknown; message?: unknown };
      this.log.warn({ cause: `${String(code ?? '')} ${String(message ?? '')}`.trim().slice(0, 300) }, 'database unreachable, retrying');
    }
    return true;
  }

  /**
   * Notes a database call that worked, begun at `startedAt` (performance.now()); the first begun
   * after the outage was seen ends it and logs how long it lasted.
   */
  succeeded(startedAt: number): void {
    if (this.downSince === null || startedAt < this.downSince) return;
    const seconds = Math.round((performance.now() - this.downSince) / 1000);
    this.log.info({ downSeconds: seconds, failedCalls: this.failures }, `database back after ${seconds} s`);
    this.downSince = null;
    this.upSince = performance.now();
    this.failures = 0;
  }
}
