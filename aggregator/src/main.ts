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
import { createLogger } from './log';
import { guardDriverCrash, installSignalHandlers } from './ops/shutdown';

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

async function main(): Promise<void> {
  const config = readConfig();
  const log = createLogger(config.logLevel);
  guardDriverCrash(log);

  let embedded: EmbeddedPostgres | null = null;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    // Nothing is logged before it runs: where it cannot (the container image), the one line below is all.
    try {
      embedded = await startEmbeddedPostgres({ dataDir: config.dataDir });
    } catch (error) {
      // A newcomer's first command: one sentence saying what to do, not a stack trace.
      if (!(error instanceof EmbeddedPostgresError)) throw error;
      console.error(error.message);
      process.exit(1);
    }
    log.info({ dataDir: config.dataDir, databaseDir: embedded.databaseDir }, 'DATABASE_URL unset: embedded PostgreSQL running');
    databaseUrl = embedded.url;
  }

  const aggregator = createAggregator(config, databaseUrl, log, {
    // The layout changed under us (a newer version migrated): drain and exit 1.
    onLayoutMismatch: () => void stop().then(() => process.exit(1)),
  });
  // Listen before migrating: /health answers and /ready says 503 until the schema is there.
  // Bun's own body limit answers 413 with an empty body; ours (MAX_BODY_BYTES) must win.
  const server = aggregator.app.listen({ port: config.port, hostname: '0.0.0.0', maxRequestBodySize: Number.MAX_SAFE_INTEGER }).server!;
  log.info({ port: server.port, workers: config.workers }, 'listening');

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
