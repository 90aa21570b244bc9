/**
 * /health latency while a replica takes 16 concurrent worst-case requests per route (issue 22:
 * "stays responsive, /health within 100 ms"), for this tree and a baseline build side by side:
 * both replicas run at once on one embedded PostgreSQL, and each route's burst goes to one and
 * then the other, so both see the same machine load. /health is probed every 20 ms during each
 * burst; the table prints p50 / p99 / max and the load average at the time. Each build
 * also reports its longest event-loop block in main-thread CPU time (EVENTLOOP_MONITOR). A third
 * row per body is the floor: a bare Bun.serve that only reads the body (bench/lib/bare-reader.ts).
 *
 *   npm run bench:responsiveness [-- --baseline main --records 5000 --concurrent 16 --only 'bombs,Loki protobuf']
 *
 * The baseline is `git archive <ref>` of the aggregator, run with this tree's node_modules.
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as snappy from 'snappyjs';
import { createTestDatabase, stopSharedServer } from '../aggregator/local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../aggregator/local/process';
import { freePort } from '../aggregator/src/db/embedded';
import { type WorstCase, sendCopies, worstCaseBodies } from '../aggregator/test/support/worst-case';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string', default: 'main' },
    records: { type: 'string', default: '5000' },
    concurrent: { type: 'string', default: '16' },
    /** Comma-separated parts of body names: only the bodies whose name contains one (all by default). */
    only: { type: 'string', default: '' },
  },
});
const ROOT = resolve(import.meta.dir, '..');
const RECORDS = Number(values.records);
const CONCURRENT = Number(values.concurrent);

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function baselineMain(ref: string): { main: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'logbus-baseline-'));
  execSync(`git archive ${ref} aggregator | tar -x -C ${dir}`, { cwd: ROOT });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { main: join(dir, 'aggregator/src/main.ts'), dir };
}

async function loopBlockCpuMs(url: string): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = text.match(/^logbus_eventloop_block_max_seconds\{clock="cpu"\} (\S+)$/m);
  return match ? Number(match[1]) * 1000 : null;
}

interface Burst {
  statuses: number[];
  health: number[];
  /** The same probes from a process of their own (bench/lib/health-prober.ts). */
  healthApart: number[];
  load: string;
  blockCpuMs: number | null;
}

/** What a burst is sent to: a replica, or the bare reader. */
type Target = Pick<AggregatorProcess, 'url' | 'kill' | 'exited' | 'waitReady'>;

/** bench/lib/bare-reader.ts: Bun reading the same bodies and nothing else, the floor of the table. */
async function spawnBareReader(): Promise<Target> {
  const port = await freePort();
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, 'lib/bare-reader.ts'), String(port)], { stdout: 'inherit', stderr: 'inherit' });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    exited: proc.exited,
    kill: (signal) => proc.kill(signal),
    async waitReady(timeoutMs = 30_000) {
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await Bun.sleep(50)) {
        if ((await fetch(`${url}/ready`).catch(() => null))?.ok) return;
      }
      throw new Error('the bare reader did not start');
    },
  };
}

async function burst(agg: Target, body: WorstCase): Promise<Burst> {
  await loopBlockCpuMs(agg.url); // a fresh window
  const health: number[] = [];
  let running = true;
  const prober = (async () => {
    while (running) {
      const started = performance.now();
      await (await fetch(`${agg.url}/health`, { signal: AbortSignal.timeout(30_000) })).arrayBuffer();
      health.push(performance.now() - started);
      await Bun.sleep(20);
    }
  })();
  const apart = Bun.spawn([process.execPath, join(import.meta.dir, 'lib/health-prober.ts'), agg.url], { stdout: 'pipe' });
  const apartOut = new Response(apart.stdout).text();
  const statuses = await sendCopies(agg.url, body, CONCURRENT, 600_000);
  running = false;
  apart.kill('SIGTERM');
  await prober;
  const healthApart = (await apartOut).split('\n').filter(Boolean).map(Number);
  return { statuses, health, healthApart, load: load(), blockCpuMs: await loopBlockCpuMs(agg.url) };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

function row(build: string, name: string, b: Burst): string {
  const sorted = [...b.health].sort((x, y) => x - y);
  const counts = new Map<number, number>();
  for (const s of b.statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  const answers = [...counts].map(([s, n]) => `${n}x${s}`).join(' ');
  const block = b.blockCpuMs === null ? '-' : b.blockCpuMs.toFixed(0);
  const apart = [...b.healthApart].sort((x, y) => x - y);
  const apartCell = `${quantile(apart, 0.5).toFixed(1)} / ${quantile(apart, 0.99).toFixed(1)} / ${apart.at(-1)?.toFixed(1)} (${apart.length})`;
  return `| ${name} | ${build} | ${quantile(sorted, 0.5).toFixed(1)} | ${quantile(sorted, 0.99).toFixed(1)} | ${sorted.at(-1)?.toFixed(1)} | ${sorted.length} | ${apartCell} | ${block} | ${answers} | ${b.load} |`;
}

const baseline = baselineMain(values.baseline!);
const [currentDb, baselineDb] = await Promise.all([createTestDatabase('bench_health_current'), createTestDatabase('bench_health_baseline')]);
const env = (url: string) => ({ DATABASE_URL: url, LOG_LEVEL: 'error', EVENTLOOP_MONITOR: 'true' });
const builds: [string, Target][] = [
  ['this tree', await spawnAggregator(env(currentDb.url))],
  [`baseline ${values.baseline}`, await spawnAggregator(env(baselineDb.url), undefined, { main: baseline.main })],
  ['bare Bun.serve reading the body', await spawnBareReader()],
];
try {
  await Promise.all(builds.map(([, agg]) => agg.waitReady(180_000)));
  console.log(`${CONCURRENT} concurrent copies of each worst-case body (${RECORDS} records per accepted body); /health probed every 20 ms`);
  console.log(
    '| body | build | /health p50 ms | p99 ms | max ms | probes | from a separate process: p50 / p99 / max ms (probes) | longest block, CPU ms | answers | load (1/5/15 min) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  const only = values.only!.split(',').filter(Boolean);
  for (const body of worstCaseBodies(snappy.compress as (input: Uint8Array) => Uint8Array, RECORDS)) {
    if (only.length > 0 && !only.some((part) => body.name.includes(part))) continue;
    for (const [build, agg] of builds) console.log(row(build, body.name, await burst(agg, body)));
  }
} finally {
  for (const [, agg] of builds) agg.kill('SIGTERM');
  await Promise.all(builds.map(([, agg]) => agg.exited));
  await Promise.all([currentDb.drop(), baselineDb.drop()]);
  rmSync(baseline.dir, { recursive: true, force: true });
  // The embedded PostgreSQL the databases were made on is a child process: stopped, the bench ends.
  await stopSharedServer();
}
