/**
 * Scenario 1: the raw-SQL ceilings (naive two-step pipeline, direct insert) on the same server,
 * at the HTTP runs' batch size and concurrency, with the same generated events.
 */
import { type CeilingOptions, type CeilingResult, runDirect, runNaive } from '../lib/ceiling';
import type { BatchPool } from '../lib/generate';
import { topStatements, resetStatements } from '../lib/pg-stats';
import { type Context, recordMachine, ScenarioResult, workPerEvent } from '../lib/scenario';

export function ceilingResult(): ScenarioResult {
  return new ScenarioResult('ceiling', 'Raw-SQL ceilings (postgres.js, no HTTP)', [
    { key: 'naive', label: 'naive two-step: end-to-end events/s (insert + drain)', unit: 'ev/s' },
    { key: 'naive_insert', label: 'naive: inbox insert events/s', unit: 'ev/s' },
    { key: 'naive_drain', label: 'naive: drain after the last insert', unit: 's' },
    { key: 'naive_wal', label: 'naive: WAL bytes per event', unit: 'n' },
    { key: 'naive_pg_ms', label: 'naive: PostgreSQL CPU ms per 1,000 events', unit: 'ms' },
    { key: 'direct', label: 'direct INSERT … ON CONFLICT DO NOTHING: events/s', unit: 'ev/s' },
    { key: 'direct_wal', label: 'direct: WAL bytes per event', unit: 'n' },
    { key: 'direct_pg_ms', label: 'direct: PostgreSQL CPU ms per 1,000 events', unit: 'ms' },
  ]);
}

/** One run of each ceiling, each on its own fresh database. */
export async function runCeiling(ctx: Context, result: ScenarioResult, pool: BatchPool, workers: number): Promise<void> {
  const { options, server } = ctx;
  const base = {
    clients: options.connections,
    workers,
    claim: options.claim,
    seconds: options.seconds,
    pool,
    drainTimeoutMs: options.drainTimeoutSeconds * 1000,
  };
  const attempt = async (name: string, run: (o: CeilingOptions) => Promise<CeilingResult>) => {
    const measured = await ctx.withDatabase(name, async (url, db) => {
      await resetStatements(server.admin);
      try {
        const value = await run({ ...base, url });
        result.check(`${name} ceiling stored exactly the unique events`, true, `${value.stored} stored`);
        return { value, statements: await topStatements(server.admin, db, 4) };
      } catch (error) {
        result.check(`${name} ceiling stored exactly the unique events`, false, (error as Error).message);
        return null;
      }
    });
    recordMachine(result, measured);
    if (!measured.value) return null;
    return { ...measured.value, work: workPerEvent(measured, measured.value.value.events) };
  };

  const naive = await attempt('naive', runNaive);
  const direct = await attempt('direct', runDirect);
  const rate = (r: CeilingResult | undefined) => (r ? r.events / r.seconds : Number.NaN);
  result.runs.record({
    naive: rate(naive?.value),
    naive_insert: naive ? naive.value.events / naive.value.insertSeconds : Number.NaN,
    naive_drain: naive?.value.drainSeconds ?? Number.NaN,
    direct: rate(direct?.value),
    naive_wal: naive?.work.wal ?? Number.NaN,
    naive_pg_ms: naive?.work.pgMs ?? Number.NaN,
    direct_wal: direct?.work.wal ?? Number.NaN,
    direct_pg_ms: direct?.work.pgMs ?? Number.NaN,
  });
  if (naive) result.statements['The naive ceiling, last run'] = naive.statements;
  if (direct && direct.value.retries > 0) result.notes.push(`direct ceiling retried ${direct.value.retries} deadlocked statement(s)`);
  ctx.log(
    `ceiling: naive ${Math.round(rate(naive?.value))} ev/s (drain ${naive?.value.drainSeconds.toFixed(2)} s), direct ${Math.round(rate(direct?.value))} ev/s`,
  );
}
