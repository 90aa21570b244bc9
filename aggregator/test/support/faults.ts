/**
 * Shared pieces of the fault tests: workloads with known answers, HTTP waits, and checks made
 * directly on the database (the source of truth) rather than through the replica under test.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { expect } from 'bun:test';
import postgres from 'postgres';
import { PARTITION_COUNT } from '../../src/db/schema';
import type { Stats } from '../../src/api/contract';
import { makeEvent } from './harness';

export type TestEvent = Record<string, unknown> & { topic: string; event_id: string };

/**
 * `total` events over `topics` topics of which `dupRate` re-send an earlier key, shuffled so
 * copies land in other requests than their originals. `payloadBytes` pads each payload.
 */
export function workload(total: number, dupRate: number, topics: number, prefix: string, payloadBytes = 0) {
  const unique = Math.round(total * (1 - dupRate));
  const pad = 'x'.repeat(payloadBytes);
  const events = Array.from(
    { length: unique },
    (_, i) => makeEvent({ topic: `${prefix}-${i % topics}`, event_id: `${prefix}-${i}`, payload: { i, pad } }) as TestEvent,
  );
  for (let i = unique; i < total; i++) events.push(events[(i * 7919) % unique]!);
  for (let i = events.length - 1; i > 0; i--) {
    const j = (i * 104729) % (i + 1);
    [events[i], events[j]] = [events[j]!, events[i]!];
  }
  const keys = new Set(events.map((e) => `${e.topic}/${e.event_id}`));
  return { events, keys, unique };
}

export async function readStats(url: string): Promise<Stats> {
  const response = await fetch(`${url}/stats`, { signal: AbortSignal.timeout(10_000) });
  if (response.status !== 200) throw new Error(`/stats answered ${response.status}`);
  return (await response.json()) as Stats;
}

/** Every event of `topic` through GET /events, page by page from seq 0 until an empty page; throws on a non-200. */
export async function readTopic(url: string, topic: string): Promise<{ seq: number; event_id: string }[]> {
  const out: { seq: number; event_id: string }[] = [];
  let after = 0;
  for (;;) {
    const response = await fetch(`${url}/events?topic=${topic}&after=${after}&limit=1000`, { signal: AbortSignal.timeout(30_000) });
    if (response.status !== 200) throw new Error(`GET /events answered ${response.status}: ${await response.text()}`);
    const page = (await response.json()) as { events: { seq: number; event_id: string }[] };
    if (page.events.length === 0) return out;
    out.push(...page.events);
    after = page.events.at(-1)!.seq;
  }
}

/** Polls /stats until nothing is pending. */
export async function waitDrained(url: string, timeoutMs = 60_000): Promise<Stats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await readStats(url).catch(() => null);
    if (stats && stats.pending === 0) return stats;
    if (Date.now() > deadline) throw new Error(`still pending after ${timeoutMs} ms: ${JSON.stringify(stats)}`);
    await Bun.sleep(50);
  }
}

/** Polls until `probe` resolves true. */
export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

/**
 * `promise`, or a rejection naming `what` once `timeoutMs` passed: a test of several slow stages
 * says which one hung instead of running into its own timeout. `explain` adds the state seen then.
 */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs: number, explain?: () => Promise<string>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(async () => {
      const state = explain ? await explain().catch((error) => `(state unavailable: ${error})`) : '';
      reject(new Error(`${what} not done within ${timeoutMs} ms${state ? `; ${state}` : ''}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `promise`, or a rejection naming `what` once `progress()` has returned the same value for
 * `stallMs`: for a stage whose length scales with the machine's pace (a CPU-starved machine
 * runs it many times slower), a stall is the failure, slowness is not. Also returns the longest
 * time progress stood still (to the poll's resolution), for the figures a test prints.
 */
export async function whileProgressing<T>(
  what: string,
  promise: Promise<T>,
  progress: () => number,
  stallMs: number,
  explain?: () => Promise<string> | string,
): Promise<{ result: T; longestStillMs: number }> {
  let last = progress();
  let lastAt = performance.now();
  let longestStillMs = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setInterval(
      async () => {
        const now = performance.now();
        longestStillMs = Math.max(longestStillMs, now - lastAt);
        if (progress() !== last) {
          last = progress();
          lastAt = now;
        } else if (now - lastAt > stallMs) {
          clearInterval(timer);
          const state = explain ? await Promise.resolve(explain()).catch((error) => `(state unavailable: ${error})`) : '';
          reject(new Error(`${what}: no progress for ${stallMs} ms${state ? `; ${state}` : ''}`));
        }
      },
      Math.min(1_000, stallMs / 10),
    );
  });
  try {
    return { result: await Promise.race([promise, stalled]), longestStillMs };
  } finally {
    clearInterval(timer);
  }
}

/** The error-level lines (pino level 50) of a process's output: what a 500 or a failure logged. */
export const errorLines = (output: string): string[] => output.split('\n').filter((line) => line.includes('"level":50'));

/** The status of GET path, or 'network' when nothing answered. */
export async function statusOf(url: string, timeoutMs = 5_000): Promise<number | 'network'> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 'network';
  }
}

/**
 * Exactly once, checked on the database: the events table holds each expected key once and
 * nothing else, the inbox is empty, and the counters agree (unique == keys; every received copy
 * is either the stored one or counted as a duplicate).
 */
export async function expectExactlyOnce(databaseUrl: string, expected: ReadonlySet<string>): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ key: string; copies: number }[]>`
      SELECT topic || '/' || event_id AS key, count(*)::int AS copies FROM events GROUP BY 1
    `;
    const [inbox] = await sql<{ rows: number }[]>`SELECT count(*)::int AS rows FROM inbox`;
    const [totals] = await sql<{ received: string; unique: string; duplicate: string }[]>`
      SELECT sum(received) AS received, sum(unique_processed) AS unique, sum(duplicate_dropped) AS duplicate FROM counters
    `;
    const stored = new Set(rows.map((row) => row.key));
    const missing = [...expected].filter((key) => !stored.has(key));
    const extra = [...stored].filter((key) => !expected.has(key));
    expect({ missing: missing.slice(0, 5), extra: extra.slice(0, 5), doubled: rows.filter((row) => row.copies > 1).length }).toEqual({
      missing: [],
      extra: [],
      doubled: 0,
    });
    expect(rows.length).toBe(expected.size);
    expect(inbox!.rows).toBe(0);
    expect(Number(totals!.unique)).toBe(expected.size);
    expect(Number(totals!.received)).toBe(Number(totals!.unique) + Number(totals!.duplicate));
  } finally {
    await sql.end();
  }
}

/**
 * Partitions a fresh transaction cannot lease right now. Empty means no replica holds a lease:
 * FOR UPDATE SKIP LOCKED skips exactly the rows some other transaction has locked.
 */
export async function leasedPartitions(databaseUrl: string): Promise<number[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return await sql.begin(async (tx) => {
      const free = await tx<{ part: number }[]>`SELECT part FROM inbox_leases ORDER BY part FOR UPDATE SKIP LOCKED`;
      const freeSet = new Set(free.map((row) => row.part));
      return Array.from({ length: PARTITION_COUNT }, (_, part) => part).filter((part) => !freeSet.has(part));
    });
  } finally {
    await sql.end();
  }
}

const CLOCK_TICKS = 100; // USER_HZ on Linux; /proc/<pid>/stat counts CPU time in these

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident memory of a process in MiB, from /proc/<pid>/status. */
export function residentMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kib / 1024;
}

/**
 * Local TCP ports of a process's sockets (Linux: its /proc/<pid>/fd socket inodes looked up in
 * /proc/net/tcp{,6}): matched with pg_stat_activity.client_port, they name its database sessions.
 */
export function localTcpPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const target = (() => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    })();
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && inodes.has(fields[9]!)) ports.add(Number.parseInt(fields[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/**
 * SQL that makes the ingest statement of the event `eventId` sleep `seconds` after its seq is
 * drawn (a trigger on the inbox insert): a drawer that is still running, as a large one would be.
 */
export const slowIngestSql = (eventId: string, seconds: number) => `
  CREATE FUNCTION slow_first_ingest() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.event_ids[1] = '${eventId}' THEN PERFORM pg_sleep(${seconds}); END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER slow_first_ingest BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION slow_first_ingest();`;
