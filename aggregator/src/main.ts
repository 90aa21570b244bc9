/**
 * Composition root: config -> database (embedded when DATABASE_URL is unset) -> HTTP listening
 * -> signal handlers -> migrations under an advisory lock -> workers. Signals are installed before
 * migrating so a SIGTERM during a long migration still drains and stops the embedded server.
 * Several such processes on one database are the replicas.
 */
import { createAggregator } from './aggregator';
import { LayoutMismatch } from './db/layout';
import { type Config, ConfigError, loadConfig } from './config';
import { type EmbeddedPostgres, EmbeddedPostgresError, startEmbeddedPostgres } from './db/embedded';
import { mkdirSync } from 'node:fs';
import { type Logger, createLogger } from './log';
import { InstanceConflict, assertPortFree, claimDataDir, portInUse } from './ops/instance';
import { guardDriverCrash, installSignalHandlers } from './ops/shutdown';
import { loopBlocks } from './ops/metrics/loop-block';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

/** What a person at the terminal needs first: where to go, and whether anyone may walk in. */
function announce(config: Config, port: number, log: Logger): void {
  const base = `http://localhost:${port}`;
  log.info({ port, workers: config.workers }, `listening on ${base} (dashboard ${base}/, API reference ${base}/openapi)`);
  if (config.authTokens.length === 0) {
    log.warn('no token is set (AUTH_TOKEN, AUTH_TOKENS or AUTH_TOKENS_FILE): anyone who can reach this port may publish, read and delete');
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const log = createLogger(config.logLevel);
  // Before anything is served: /metrics registers the block series only when the monitor runs.
  if (config.eventLoopMonitor) loopBlocks.start();
  guardDriverCrash(log);

  let embedded: EmbeddedPostgres | null = null;
  let databaseUrl = config.databaseUrl;
  try {
    // Before anything slow, and before touching a data directory another logbus may be using.
    if (!config.reusePort) await assertPortFree(config.port);
    if (databaseUrl === undefined) {
      try {
        mkdirSync(config.dataDir, { recursive: true });
        claimDataDir(config.dataDir);
      } catch (error) {
        // A folder that cannot be made: the embedded start below says so in its own sentence.
        if (error instanceof InstanceConflict) throw error;
      }
      // Nothing is logged before it runs: where it cannot (the container image), the one line below is all.
      embedded = await startEmbeddedPostgres({ dataDir: config.dataDir });
    }
  } catch (error) {
    // A newcomer's first command: one sentence saying what to do, not a stack trace.
    if (!(error instanceof EmbeddedPostgresError || error instanceof InstanceConflict)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  if (embedded) {
    log.info({ dataDir: config.dataDir, databaseDir: embedded.databaseDir }, 'DATABASE_URL unset: embedded PostgreSQL running');
    databaseUrl = embedded.url;
  }

  const aggregator = createAggregator(config, databaseUrl!, log, {
    // The layout changed under us (a newer version migrated): drain and exit 1.
    onLayoutMismatch: () => void stop().then(() => process.exit(1)),
  });
  // Listen before migrating: /health answers and /ready says 503 until the schema is there.
  // Bun's own body limit answers 413 with an empty body; ours (MAX_BODY_BYTES) must win.
  // Elysia asks Bun for SO_REUSEPORT by default: two processes would then split one port's
  // requests between them without a word. Only REUSE_PORT=true shares it.
  let server: NonNullable<typeof aggregator.app.server>;
  try {
    server = aggregator.app.listen({
      port: config.port,
      hostname: '0.0.0.0',
      reusePort: config.reusePort,
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    }).server!;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    console.error(portInUse(config.port).message);
    await aggregator.close();
    if (embedded) await embedded.stop();
    process.exit(1);
  }
  announce(config, server.port ?? config.port, log);

  async function stop(): Promise<boolean> {
    log.info('draining');
    const drained = await aggregator.drain(config.drainTimeoutMs, () => server.pendingRequests);
    await aggregator.app.stop(true);
    await aggregator.close();
    if (embedded) await embedded.stop();
    log.info({ drained }, drained ? 'drained; exiting' : 'drain timed out; exiting');
    return drained;
  }
  installSignalHandlers(log, stop);
  // Stopped by hand, killed, or crashed under us: every request would fail from now on; a
  // supervisor (or the person at the terminal) must hear it, not see 503s at random.
  embedded?.onUnexpectedExit((how) => {
    log.fatal({ pid: embedded.pid, how }, 'the embedded PostgreSQL stopped under this aggregator; exiting');
    aggregator.lifecycle.draining = true;
    void stop().finally(() => process.exit(1));
  });

  try {
    await aggregator.start();
  } catch (error) {
    if (!(error instanceof LayoutMismatch)) throw error;
    log.fatal(error.message);
    await stop();
    process.exit(1);
  }
  log.info('ready');
}

await main();
