/**
 * The longest event-loop block since the last scrape (opt-in: EVENTLOOP_MONITOR=true). A timer
 * ticks every few milliseconds; the gap between two ticks beyond the interval is how long
 * everything else on the loop ran without yielding: what a `/health` probe arriving meanwhile
 * waited for.
 *
 * Two clocks, because on a loaded machine they differ by a large factor:
 * - `wall`: the gap as a client sees it, stretched by every other process competing for the CPU;
 * - `cpu`: the CPU time the main thread used during the gap (`/proc/thread-self/schedstat`, in
 *   nanoseconds), the length of the synchronous step itself. Load barely moves it, so a test can
 *   bound it on a shared machine; Linux only (elsewhere only `wall` is reported).
 *
 * Off by default: a 5 ms timer wakes an idle replica 200 times a second.
 */
import { readFileSync } from 'node:fs';

const INTERVAL_MS = 5;

/** CPU nanoseconds the calling thread has run, or null where schedstat is missing. */
function threadCpuNanos(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ', 1)[0]);
  } catch {
    return null;
  }
}

export interface LoopBlocks {
  /** Longest gap beyond the interval, in seconds of wall-clock time. */
  wallSeconds: number;
  /** Main-thread CPU seconds during the gap with the most of it (null: not measurable here). */
  cpuSeconds: number | null;
  /** Ticks observed, so a reader can tell the monitor ran at all. */
  ticks: number;
}

class LoopBlockMonitor {
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastWall = 0;
  private lastCpu: number | null = null;
  private maxWall = 0;
  private maxCpu = 0;
  private ticks = 0;

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer) return;
    this.lastWall = performance.now();
    this.lastCpu = threadCpuNanos();
    this.timer = setInterval(() => this.tick(), INTERVAL_MS);
    this.timer.unref?.();
  }

  private tick(): void {
    const wall = performance.now();
    const cpu = this.lastCpu === null ? null : threadCpuNanos();
    this.maxWall = Math.max(this.maxWall, wall - this.lastWall - INTERVAL_MS);
    if (cpu !== null && this.lastCpu !== null) this.maxCpu = Math.max(this.maxCpu, cpu - this.lastCpu);
    this.lastWall = wall;
    this.lastCpu = cpu;
    this.ticks++;
  }

  /** The maxima since the previous call, which starts a new window. */
  take(): LoopBlocks | null {
    if (!this.timer) return null;
    const blocks = { wallSeconds: Math.max(0, this.maxWall) / 1000, cpuSeconds: this.lastCpu === null ? null : this.maxCpu / 1e9, ticks: this.ticks };
    this.maxWall = 0;
    this.maxCpu = 0;
    this.ticks = 0;
    return blocks;
  }
}

/** One per process: the event loop is one, whatever number of aggregators a test runs in it. */
export const loopBlocks = new LoopBlockMonitor();
