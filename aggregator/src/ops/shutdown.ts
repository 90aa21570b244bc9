/** Signal handling and the process-level safety net. */
import type { Logger } from '../log';

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
 */
export function guardDriverCrash(log: Logger): void {
  process.on('uncaughtException', (error) => {
    const stack = error instanceof Error ? (error.stack ?? '') : '';
    if (error instanceof TypeError && /postgres[\\/](src|cjs[\\/]src)[\\/]connection\.js/.test(stack)) {
      log.error({ err: error }, 'absorbed postgres.js socket error after a lost connection');
      return;
    }
    // Bun throws some non-Error values (a failed import's ResolveMessage) that pino logs as {}.
    log.fatal({ err: error instanceof Error ? error : new Error(String(error)) }, 'uncaught exception');
    process.exit(1);
  });
}
