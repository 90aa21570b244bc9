/** Signal handling and the process-level safety net. */
import type { Logger } from '../log';
import { isConnectionLoss } from '../errors';

/**
 * A Ctrl-C under `npm start` arrives twice: the terminal signals the whole foreground group and
 * npm forwards its own copy to us. Signals this close to the first are that same request.
 */
const SAME_SIGNAL_MS = 1_000;

/**
 * SIGTERM/SIGINT run `drain` once and exit 0 when it completed (1 when it had to give up);
 * another signal later than SAME_SIGNAL_MS exits at once.
 */
export function installSignalHandlers(log: Logger, drain: () => Promise<boolean>): void {
  let firstAt: number | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstAt !== null) {
      if (performance.now() - firstAt < SAME_SIGNAL_MS) return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    firstAt = performance.now();
    log.info({ signal }, 'shutdown requested');
    drain().then(
      (clean) => process.exit(clean ? 0 : 1),
      (error) => {
        log.error({ err: error }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * postgres.js under Bun has thrown a TypeError from a deferred write (connection.js nextWrite)
 * after PostgreSQL dropped the socket under load. The connection is already gone and its queries
 * already failed, so the right outcome is 503s and a reconnect, not a dead process. Only that
 * signature is absorbed; anything else still ends the process.
 *
 * Likewise for a promise rejected with a lost-connection error that nothing awaits any more: when
 * PostgreSQL stopped under load, a replica died of an unhandled `CONNECTION_CLOSED` (about 1 run
 * in 10 of faults-postgres.test.ts on a loaded machine; Bun ends the process on an unhandled
 * rejection). Such a query failed with its connection: whoever needed its result already got
 * its own error (503s), so it is logged with the statement it belonged to and absorbed. Any other
 * unhandled rejection still ends the process, as Bun's default would.
 */
export function guardDriverCrash(log: Logger): void {
  // Absorbed errors come in bursts when the database goes (one per connection in use): the first
  // of a minute is an info line with its message, the rest debug lines. Not a warning: the
  // outage itself is the one warning (ops/outage.ts), and these are its echo.
  let loudAt = Number.NEGATIVE_INFINITY;
  const absorbedLevel = (): 'info' | 'debug' => {
    if (performance.now() - loudAt < 60_000) return 'debug';
    loudAt = performance.now();
    return 'info';
  };
  process.on('uncaughtException', (error) => {
    const stack = error instanceof Error ? (error.stack ?? '') : '';
    if (error instanceof TypeError && /postgres[\\/](src|cjs[\\/]src)[\\/]connection\.js/.test(stack)) {
      const level = absorbedLevel();
      log[level](level === 'debug' ? { err: error } : { error: error.message }, 'absorbed postgres.js socket error after a lost connection');
      return;
    }
    // Bun throws some non-Error values (a failed import's ResolveMessage) that pino logs as {}.
    log.fatal({ err: error instanceof Error ? error : new Error(String(error)) }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    if (isConnectionLoss(reason)) {
      const query = (reason as { query?: unknown }).query;
      const level = absorbedLevel();
      log[level](
        {
          ...(level === 'debug' ? { err: reason } : { error: (reason as Error).message }),
          query: typeof query === 'string' ? query.slice(0, 200) : undefined,
        },
        'absorbed unhandled postgres.js rejection after a lost connection',
      );
      return;
    }
    log.fatal({ err: reason }, 'unhandled rejection');
    process.exit(1);
  });
}
