/**
 * `npm run cluster -- --replicas 3`: N aggregator processes on consecutive ports against one
 * PostgreSQL, for trying replicas, faults and subscriptions on one machine.
 *
 * - DATABASE_URL set: the replicas use it. Unset: ONE embedded PostgreSQL is started in
 *   --data-dir (default ./data/cluster) and kept there across runs.
 * - A replica that dies (kill -9 it to see) is started again on its port.
 * - SIGINT/SIGTERM drain every replica (each exits once its work is done), then stop the
 *   embedded server. A second signal exits at once.
 * - Replica logs are printed with a `[rN]` prefix; the rest of the environment (WORKERS,
 *   BATCH_SIZE, AUTH_TOKEN, LOG_LEVEL, …) is passed to every replica.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type EmbeddedPostgres, EmbeddedPostgresError, startEmbeddedPostgres } from '../aggregator/src/db/embedded';
import { Cluster } from '../aggregator/local/cluster';

const USAGE = `usage: npm run cluster -- [--replicas N] [--port FIRST_PORT] [--data-dir DIR]

  --replicas N      aggregator processes (default 3)
  --port P          replica i listens on P + i (default 8080)
  --data-dir DIR    embedded PostgreSQL's folder when DATABASE_URL is unset (default ./data/cluster)`;

export interface ClusterArgs {
  replicas: number;
  port: number;
  dataDir: string;
}

/** Parses the command line; 'help' for --help; throws a message meant for the user. */
export function parseClusterArgs(argv: string[]): ClusterArgs | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      replicas: { type: 'string', default: '3' },
      port: { type: 'string', default: '8080' },
      'data-dir': { type: 'string', default: 'data/cluster' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const replicas = Number(values.replicas);
  const port = Number(values.port);
  const problems: string[] = [];
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 32) problems.push(`--replicas ${values.replicas}: expected 1 to 32`);
  if (!Number.isInteger(port) || port < 1 || port + (Number.isInteger(replicas) ? replicas : 1) - 1 > 65535)
    problems.push(`--port ${values.port}: expected a port with room for every replica`);
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\n\n${USAGE}`);
  return { replicas, port, dataDir: resolve(values['data-dir']!) };
}

/** Prefixes each complete line of a replica's output. */
function linePrinter(prefix: string): (text: string) => void {
  let partial = '';
  return (text) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) process.stdout.write(`${prefix} ${line}\n`);
  };
}

async function main(): Promise<number> {
  let parsed: ClusterArgs | 'help';
  try {
    parsed = parseClusterArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  const args = parsed;

  let embedded: EmbeddedPostgres | null = null;
  let databaseUrl = process.env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl === undefined) {
    console.log(`[cluster] DATABASE_URL unset: starting embedded PostgreSQL in ${args.dataDir}`);
    try {
      embedded = await startEmbeddedPostgres({ dataDir: args.dataDir });
    } catch (error) {
      if (!(error instanceof EmbeddedPostgresError)) throw error;
      console.error(`[cluster] ${error.message}`);
      return 1;
    }
    databaseUrl = embedded.url;
    console.log(`[cluster] PostgreSQL: ${databaseUrl} (data in ${embedded.databaseDir})`);
  }

  const printers = Array.from({ length: args.replicas }, (_, i) => linePrinter(`[r${i}]`));
  let cluster: Cluster | null = null;
  const starting = Cluster.start({
    replicas: args.replicas,
    databaseUrl,
    ports: Array.from({ length: args.replicas }, (_, i) => args.port + i),
    restartOnExit: true,
    onOutput: (i, text) => printers[i]!(text),
    onEvent: (i, event, detail) =>
      console.log(
        `[cluster] replica ${i} ${event === 'exited' ? `exited (${detail}); starting it again` : `is back at ${detail} (pid ${cluster?.node(i).pid})`}`,
      ),
  });

  let stopping: Promise<number> | null = null;
  let firstSignalAt = 0;
  const stop = (signal: string): Promise<number> => {
    if (stopping) {
      // A terminal's Ctrl-C reaches this process twice within milliseconds: from the terminal
      // (the whole foreground group) and forwarded by npm. That is one request, not two.
      if (performance.now() - firstSignalAt < 1_000) return stopping;
      console.log(`[cluster] second ${signal}: exiting now`);
      process.exit(1);
    }
    firstSignalAt = performance.now();
    console.log(`[cluster] ${signal}: draining the replicas`);
    stopping = (async () => {
      // A signal during start-up still stops whatever started.
      const started = await starting.catch(() => null);
      const codes = started ? await started.stop() : [];
      if (embedded) await embedded.stop();
      console.log(`[cluster] replicas exited with ${codes.join(', ') || 'nothing to stop'}; done`);
      return codes.every((code) => code === 0) ? 0 : 1;
    })();
    return stopping;
  };
  // Installed once the embedded server runs: a signal during its start-up ends the process.
  const finished = new Promise<number>((done) => {
    process.on('SIGINT', () => void stop('SIGINT').then(done));
    process.on('SIGTERM', () => void stop('SIGTERM').then(done));
  });

  try {
    cluster = await starting;
  } catch (error) {
    console.error(`[cluster] could not start the replicas: ${(error as Error).message}`);
    if (embedded) await embedded.stop();
    return 1;
  }
  if (stopping) return finished;

  console.log('[cluster] ready:');
  for (let i = 0; i < cluster.size; i++) console.log(`[cluster]   replica ${i}  ${cluster.urls[i]}  (pid ${cluster.node(i).pid})`);
  console.log('[cluster] publish to any replica; GET /subscribe?topic=T on one sees what another applied. Ctrl-C drains and stops.');
  return finished;
}

if (import.meta.main) process.exit(await main());
