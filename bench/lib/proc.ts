/**
 * Linux /proc readers: process memory and CPU, the machine, and how much of the machine other
 * people's processes took during a run (the machine is shared; a figure measured while a test
 * suite ran next to it says so in the report instead of silently looking slow).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** Clock ticks per second for /proc times (USER_HZ); 100 on every mainstream Linux. */
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export const CORES = cpus().length;

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // gone
  }
}

/** utime + stime of a process in seconds (plus reaped children's when `children`). */
export function cpuSeconds(pid: number, children = false): number {
  const f = statFields(pid);
  if (!f) return 0;
  // After ')': state=0 ppid=1 … utime=11 stime=12 cutime=13 cstime=14.
  let ticks = Number(f[11]) + Number(f[12]);
  if (children) ticks += Number(f[13]) + Number(f[14]);
  return ticks / TICKS;
}

/** Resident set size in bytes (VmRSS), or NaN when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The 1-minute load average. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Busy CPU seconds of the whole machine since boot (all cores, idle and iowait excluded). */
function machineBusySeconds(): number {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = values.map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS;
}

/** CPU seconds of PostgreSQL: the postmaster, its reaped children and its live children. */
export function postgresSeconds(postmaster: number): number {
  let total = cpuSeconds(postmaster, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === postmaster) total += cpuSeconds(Number(entry));
  }
  return total;
}

export interface CpuSnapshot {
  at: number;
  machine: number;
  ours: number;
  aggregator: number;
  postgres: number;
}

/** Who used the CPU: the whole machine, this process + aggregators + PostgreSQL. */
export function cpuSnapshot(aggregators: readonly number[], postmaster: number): CpuSnapshot {
  const aggregator = aggregators.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const postgres = postgresSeconds(postmaster);
  return { at: performance.now(), machine: machineBusySeconds(), ours: cpuSeconds(process.pid) + aggregator + postgres, aggregator, postgres };
}

export interface CpuUse {
  /** Wall seconds between the snapshots. */
  seconds: number;
  /** Share of the whole machine (all cores) other processes used, 0..100. */
  otherPct: number;
  /** Aggregator processes' CPU as % of one core. */
  aggregatorPct: number;
  /** PostgreSQL's CPU as % of one core. */
  postgresPct: number;
  /** This process (load generator, raw-SQL clients) as % of one core. */
  benchPct: number;
}

export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const seconds = (b.at - a.at) / 1000;
  const other = Math.max(0, b.machine - a.machine - (b.ours - a.ours));
  return {
    seconds,
    otherPct: (100 * other) / (seconds * CORES),
    aggregatorPct: (100 * (b.aggregator - a.aggregator)) / seconds,
    postgresPct: (100 * (b.postgres - a.postgres)) / seconds,
    benchPct: (100 * (b.ours - a.ours - (b.aggregator - a.aggregator) - (b.postgres - a.postgres))) / seconds,
  };
}

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  kernel: string;
}

export function machine(): Machine {
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux; the bench needs /proc anyway
  }
  return { cores: CORES, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: totalmem() / 2 ** 30, kernel };
}
