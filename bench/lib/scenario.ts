/**
 * What every scenario shares: a result it records into, and a context that hands each measured
 * run a fresh database (and fresh aggregator processes), checkpoints first so a previous run's
 * dirty pages are not flushed on this run's clock, and measures who used the CPU meanwhile.
 */
import postgres from 'postgres';
import type { Options, ScenarioName } from './options';
import { type StatementCost, walBytes } from './pg-stats';
import { cpuBetween, cpuSnapshot, type CpuUse, loadAverage } from './proc';
import { type Aggregators, type BenchServer, startAggregators } from './server';
import { RunSet } from './summary';

/** How a figure is shown: the unit picks the number format. */
export type Unit = 'ev/s' | 'req/s' | 'ms' | 's' | 'MB' | '%' | 'x' | 'n' | 'load';

export interface Row {
  key: string;
  label: string;
  unit: Unit;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export class ScenarioResult {
  readonly runs = new RunSet();
  readonly rows: Row[] = [];
  readonly checks: Check[] = [];
  /** Observations for the reader (markdown lines). */
  readonly notes: string[] = [];
  /** Timelines and other detail, for --json. */
  readonly data: Record<string, unknown> = {};
  /** pg_stat_statements views of the last run, by title (a later run replaces an earlier one). */
  readonly statements: Record<string, StatementCost[]> = {};

  constructor(
    readonly name: ScenarioName,
    readonly title: string,
    rows: Row[],
  ) {
    this.rows.push(
      ...rows,
      { key: 'other_cpu', label: "other processes' CPU (share of the machine)", unit: '%' },
      { key: 'load1', label: 'load average (1 min) at start', unit: 'load' },
    );
  }

  check(name: string, ok: boolean, detail: string): void {
    this.checks.push({ name, ok, detail });
  }
}

export interface Run {
  /** Database name and URL. */
  db: string;
  url: string;
  /** A small pool on the run's database, for direct reads (dead tuples, bulk loads). */
  sql: postgres.Sql;
  aggregators: Aggregators;
}

export interface Measured<T> {
  value: T;
  cpu: CpuUse;
  load1: number;
  /** WAL the server wrote during the run, bytes. */
  wal: number;
  /** Warning and error lines the aggregators logged during the run. */
  problems: string[];
}

export interface Context {
  options: Options;
  server: BenchServer;
  /** The aggregator environment every run uses (defaults + --env). */
  aggregatorEnv: Readonly<Record<string, string>>;
  log(line: string): void;
  /** A fresh empty database (raw-SQL ceilings), dropped afterwards. */
  withDatabase<T>(label: string, body: (url: string, db: string) => Promise<T>): Promise<Measured<T>>;
  /** A fresh migrated database and `replicas` aggregator processes, stopped and dropped afterwards. */
  withAggregators<T>(label: string, body: (run: Run) => Promise<T>): Promise<Measured<T>>;
}

export function createContext(options: Options, server: BenchServer, aggregatorEnv: Record<string, string>, log: (line: string) => void): Context {
  let counter = 0;
  const measure = async <T>(pids: () => number[], body: () => Promise<T>): Promise<Measured<T>> => {
    await server.admin`CHECKPOINT`;
    const load1 = loadAverage();
    const walBefore = await walBytes(server.admin);
    const before = cpuSnapshot(pids(), server.postmasterPid);
    const value = await body();
    const cpu = cpuBetween(before, cpuSnapshot(pids(), server.postmasterPid));
    return { value, cpu, load1, wal: (await walBytes(server.admin)) - walBefore, problems: [] };
  };
  const fresh = (label: string) => `bench_${label}_${++counter}`;

  return {
    options,
    server,
    aggregatorEnv,
    log,
    async withDatabase(label, body) {
      const db = fresh(label);
      const url = await server.createDatabase(db, false);
      try {
        return await measure(
          () => [],
          () => body(url, db),
        );
      } finally {
        await server.dropDatabase(db);
      }
    },
    async withAggregators(label, body) {
      const db = fresh(label);
      const url = await server.createDatabase(db, true);
      const sql = postgres(url, { max: 2, onnotice: () => {} });
      let aggregators: Aggregators | null = null;
      try {
        aggregators = await startAggregators(server, url, options.replicas, aggregatorEnv);
        const started = aggregators;
        const measured = await measure(
          () => started.pids,
          () => body({ db, url, sql, aggregators: started }),
        );
        measured.problems = started.problems();
        if (measured.problems.length > 0)
          log(`aggregator logged ${measured.problems.length} warning/error line(s) in ${db}; first: ${measured.problems[0]!.slice(0, 300)}`);
        return measured;
      } finally {
        await aggregators?.stop();
        await sql.end({ timeout: 2 });
        await server.dropDatabase(db);
      }
    },
  };
}

/**
 * Database work per event, comparable across designs even when the machine is busy: WAL bytes
 * per event and PostgreSQL CPU milliseconds per 1,000 events.
 */
export function workPerEvent(measured: Measured<unknown>, events: number): { wal: number; pgMs: number } {
  const cpuMs = 10 * measured.cpu.postgresPct * measured.cpu.seconds;
  return { wal: measured.wal / events, pgMs: (1000 * cpuMs) / events };
}

/** Records the CPU and load figures every scenario shows, and fails on aggregator errors. */
export function recordMachine(result: ScenarioResult, measured: Measured<unknown>): void {
  result.runs.record({ other_cpu: measured.cpu.otherPct, load1: measured.load1 });
  const errors = measured.problems.filter((line) => /"level":(50|60)/.test(line));
  if (errors.length > 0) result.check('aggregator logged no errors', false, `${errors.length} error line(s), first: ${errors[0]!.slice(0, 200)}`);
}
