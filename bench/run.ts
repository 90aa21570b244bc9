/**
 * `npm run bench`: starts one embedded PostgreSQL in a temporary folder, runs the scenarios
 * against it (raw-SQL ceilings, then the aggregator as real `bun aggregator/src/main.ts`
 * processes), and prints a markdown report (or JSON with --json) on stdout. Progress goes to
 * stderr. The repeated scenarios run interleaved, round by round, so a disturbance on the shared
 * machine touches the ceilings and the HTTP runs alike instead of skewing their ratio.
 *
 * Exit code: 0 when every scenario ran and every correctness check held (performance targets
 * are reported, not enforced), 1 otherwise, 2 on a usage error.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../aggregator/src/config';
import { BatchPool } from './lib/generate';
import { type Options, parseOptions, type ScenarioName, USAGE, UsageError } from './lib/options';
import { machine } from './lib/proc';
import { type Report, toJson, toMarkdown } from './lib/report';
import { type Context, createContext, type ScenarioResult } from './lib/scenario';
import { startServer } from './lib/server';
import { evaluateTargets } from './lib/targets';
import { ceilingResult, runCeiling } from './scenarios/ceiling';
import { costResult, runCost } from './scenarios/cost';
import { idleResult, runIdle } from './scenarios/idle';
import { latencyResult, runLatency } from './scenarios/latency';
import { protocolsResult, runProtocols } from './scenarios/protocols';
import { queryResult, runQuery } from './scenarios/query';
import { retentionResult, runRetention } from './scenarios/retention';
import { recoveryResult, runRecovery } from './scenarios/recovery';
import { runScale, scaleResult } from './scenarios/scale';
import { runSeed, seedPool, seedResult } from './scenarios/seed';
import { runShards, shardsResult } from './scenarios/shards';
import { runStandby, standbyResult } from './scenarios/standby';
import { runSoak, soakResult } from './scenarios/soak';
import { runSustained, sustainedResult } from './scenarios/sustained';
import { runTopics, topicsResult } from './scenarios/topics';

/** Batches per lap of the sustained pool: 100,000 events at 50 per batch, rendered in ~0.2 s. */
const POOL_BATCHES = 2_000;

const started = performance.now();
const log = (line: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
const loadAverages = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function gitDescription(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'aggregator'], { encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted aggregator changes` : head;
  } catch {
    return 'unknown';
  }
}

interface Plan {
  name: ScenarioName;
  result: ScenarioResult;
  run: () => Promise<void>;
}

function plan(ctx: Context, workers: number): { repeated: Plan[]; once: Plan[] } {
  const { options } = ctx;
  const pool = new BatchPool({ batches: POOL_BATCHES, batchSize: options.batch, dupRate: options.dupRate, topics: options.topics, seed: 0x10605 });
  const seeds = seedPool(ctx, 0x5eed);
  const ceiling = ceilingResult();
  const naiveOfRound = () => ceiling.runs.figures().naive?.runs.at(-1) ?? Number.NaN;
  const all: Plan[] = [];
  const add = (name: ScenarioName, result: ScenarioResult, run: (r: ScenarioResult) => Promise<void>) =>
    all.push({ name, result, run: () => run(result) });
  add('ceiling', ceiling, (r) => runCeiling(ctx, r, pool, workers));
  add('seed', seedResult(), (r) => runSeed(ctx, r, seeds));
  add('sustained', sustainedResult(), (r) => runSustained(ctx, r, pool, naiveOfRound));
  add('topics', topicsResult(), (r) => runTopics(ctx, r));
  // Idle before the long ones: a quiet server, not one still settling after 10M rows.
  add('idle', idleResult(ctx), (r) => runIdle(ctx, r, pool));
  add('latency', latencyResult(), (r) => runLatency(ctx, r));
  add('soak', soakResult(), (r) => runSoak(ctx, r, pool));
  add('scale', scaleResult(ctx), (r) => runScale(ctx, r, pool));
  add('protocols', protocolsResult(), (r) => runProtocols(ctx, r, seedPool(ctx, 0x9707)));
  add('retention', retentionResult(ctx), (r) => runRetention(ctx, r, pool));
  add('query', queryResult(ctx), (r) => runQuery(ctx, r, pool));
  // On a PostgreSQL of its own: the shared server stays up.
  add('recovery', recoveryResult(), (r) => runRecovery(ctx, r));
  // Each stage's PostgreSQL CPU and WAL alone, through the aggregator's statements (docs/SCALING.md).
  add('cost', costResult(ctx), (r) => runCost(ctx, r));
  // Its own 4 servers: the Citus stand-in of docs/SCALING.md.
  add('shards', shardsResult(), (r) => runShards(ctx, r));
  // Its own primary and streaming standby: the lag of reads on a hot standby (docs/SCALING.md).
  add('standby', standbyResult(), (r) => runStandby(ctx, r));
  const chosen = all.filter((p) => options.only.includes(p.name));
  const isRepeated = (p: Plan) => ['ceiling', 'seed', 'sustained', 'topics', 'protocols'].includes(p.name);
  return { repeated: chosen.filter(isRepeated), once: chosen.filter((p) => !isRepeated(p)) };
}

function configuration(options: Options, env: Record<string, string>) {
  const config = loadConfig({ ...env, DATABASE_URL: 'postgres://bench' });
  const extra = Object.fromEntries(
    Object.entries(options.env).filter(([k]) => !['WORKERS', 'BATCH_SIZE', 'DB_POOL_SIZE', 'MAX_PENDING'].includes(k)),
  );
  return {
    workers: config.workers,
    lines: {
      replicas: options.replicas,
      WORKERS: config.workers,
      BATCH_SIZE: config.batchSize,
      DB_POOL_SIZE: config.dbPoolSize,
      MAX_PENDING: config.maxPending,
      ...extra,
      connections: options.connections,
      'events/request': options.batch,
      'duplicates (sustained)': options.dupRate,
      topics: options.topics,
      'load seconds': options.seconds,
      'soak seconds': options.soakSeconds,
      'ceiling workers × claim': `${config.workers * options.replicas} × ${options.claim}`,
      runs: options.runs,
    },
  };
}

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = parseOptions(Bun.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    process.stdout.write(USAGE);
    return 0;
  }
  const loadAtStart = loadAverages();
  const env = { LOG_LEVEL: 'info', ...options.env };
  let settings: ReturnType<typeof configuration>;
  try {
    // The aggregator's own validation, so a bad --env fails here, not in every spawned process.
    settings = configuration(options, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`--env: ${error.message}\n`);
    return 2;
  }
  const { workers, lines } = settings;
  log(`scenarios: ${options.only.join(', ')}; runs: ${options.runs}; load average ${loadAtStart}`);

  const server = await startServer(log);
  // The watchdog (server.ts) stops PostgreSQL and the aggregators once this process is gone.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));
  const ctx = createContext(options, server, env, log);
  const { repeated, once } = plan(ctx, workers);
  const failures: Report['failures'] = [];
  const attempt = async (p: Plan) => {
    if (failures.some((f) => f.scenario === p.name)) return;
    try {
      await p.run();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`SCENARIO ${p.name} FAILED: ${message}`);
      failures.push({ scenario: p.name, error: message.slice(0, 500) });
    }
  };
  for (let round = 1; round <= options.runs && repeated.length > 0; round++) {
    log(`round ${round} of ${options.runs}`);
    for (const p of repeated) await attempt(p);
  }
  for (const p of once) await attempt(p);

  const m = machine();
  const results = [...repeated, ...once].map((p) => p.result);
  const report: Report = {
    meta: {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      machine: `${m.cores} cores (${m.cpu}), ${m.memoryGiB.toFixed(0)} GiB RAM, Linux ${m.kernel}`,
      versions: {
        bun: Bun.version,
        PostgreSQL: server.version,
        autocannon: JSON.parse(readFileSync(require.resolve('autocannon/package.json'), 'utf8')).version,
        logbus: gitDescription(),
      },
      config: lines,
      loadAverage: { start: loadAtStart, end: loadAverages() },
      seconds: (performance.now() - started) / 1000,
    },
    scenarios: results,
    targets: evaluateTargets(Object.fromEntries(results.map((r) => [r.name, r]))),
    failures,
  };
  await server.stop().catch((error) => log(`stopping PostgreSQL: ${error}`));
  if (options.save) writeFileSync(options.save, `${toJson(report)}\n`);
  process.stdout.write(`${options.json ? toJson(report) : toMarkdown(report)}\n`);
  const checksFailed = results.some((r) => r.checks.some((c) => !c.ok));
  log(`done in ${(report.meta.seconds / 60).toFixed(1)} min${failures.length || checksFailed ? ' — WITH FAILURES' : ''}`);
  return failures.length > 0 || checksFailed ? 1 : 0;
}

process.exit(await main());
