/**
 * Process metrics measured the way Bun allows. prom-client's collectDefaultMetrics() assumes
 * Node: under Bun its event-loop lag comes from perf_hooks.monitorEventLoopDelay (NaN until it
 * has samples), its GC histograms stay empty (Bun emits no GC performance entries), and its V8
 * heap spaces and active handles are all zero. Those series looked like data and were not.
 *
 * Kept, under their usual names so dashboards still work: CPU seconds, resident and virtual
 * memory, open and max file descriptors, start time. Measured differently: event-loop lag is
 * the delay of a zero-delay timer at scrape time (no sampler runs while idle), and the heap is
 * JavaScriptCore's own (bun:jsc heapStats).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { heapStats } from 'bun:jsc';
import { Counter, Gauge, type Registry } from 'prom-client';
import { loopBlocks } from './loop-block';

const PAGE_SIZE = 4096;

function statm(): { virtual: number; resident: number } | null {
  try {
    const [size, resident] = readFileSync('/proc/self/statm', 'utf8').split(' ').map(Number) as [number, number];
    return { virtual: size * PAGE_SIZE, resident: resident * PAGE_SIZE };
  } catch {
    return null;
  }
}

function maxFds(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const value = Number(line?.split(/\s+/)[3]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** Delay of a zero-delay timer now: how long the event loop takes to come back to us. */
export function measureEventLoopLag(): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => setTimeout(() => resolve((performance.now() - started) / 1000), 0));
}

/** Registers the runtime series on `registry`; each is read at scrape time. */
export function registerRuntimeMetrics(registry: Registry): void {
  const registers = [registry];
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      const usage = process.cpuUsage();
      this.reset();
      this.inc((usage.user + usage.system) / 1e6);
    },
  });
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers }).set(startSeconds);
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(statm()?.resident ?? process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'process_virtual_memory_bytes',
    help: 'Virtual memory size in bytes.',
    registers,
    collect() {
      const memory = statm();
      if (memory) this.set(memory.virtual);
    },
  });
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers,
    collect() {
      try {
        this.set(readdirSync('/proc/self/fd').length);
      } catch {
        // not Linux: the series stays at its last value (0)
      }
    },
  });
  const fdLimit = maxFds();
  if (fdLimit !== null) new Gauge({ name: 'process_max_fds', help: 'Maximum number of open file descriptors.', registers }).set(fdLimit);
  new Gauge({
    name: 'logbus_js_heap_bytes',
    help: 'JavaScriptCore heap (bun:jsc heapStats): kind="size" live, "capacity" reserved, "extra" memory outside the heap owned by heap objects (buffers).',
    labelNames: ['kind'],
    registers,
    collect() {
      const stats = heapStats();
      this.set({ kind: 'size' }, stats.heapSize);
      this.set({ kind: 'capacity' }, stats.heapCapacity);
      this.set({ kind: 'extra' }, stats.extraMemorySize);
    },
  });
  new Gauge({
    name: 'logbus_eventloop_lag_seconds',
    help: 'Delay of a zero-delay timer, measured at scrape time: how busy the event loop is.',
    registers,
    async collect() {
      this.set(await measureEventLoopLag());
    },
  });
  // Opt-in (EVENTLOOP_MONITOR, started before the first scrape): without it neither series
  // exists, rather than a family without samples. The ticks gauge is registered after the one
  // whose collect() sets it, so a scrape reads it fresh.
  if (!loopBlocks.running) return;
  let ticks: Gauge | undefined;
  new Gauge({
    name: 'logbus_eventloop_block_max_seconds',
    help:
      'Longest event-loop block since the previous scrape (EVENTLOOP_MONITOR=true): clock="wall" as clients wait, ' +
      'clock="cpu" the main thread CPU time within it (the synchronous step itself, barely moved by machine load).',
    labelNames: ['clock'],
    registers,
    collect() {
      const blocks = loopBlocks.take();
      if (!blocks) return;
      ticks?.set(blocks.ticks);
      this.set({ clock: 'wall' }, blocks.wallSeconds);
      if (blocks.cpuSeconds !== null) this.set({ clock: 'cpu' }, blocks.cpuSeconds);
    },
  });
  ticks = new Gauge({
    name: 'logbus_eventloop_monitor_ticks',
    help: 'Ticks of the event-loop block monitor since the previous scrape (EVENTLOOP_MONITOR=true).',
    registers,
  });
}
