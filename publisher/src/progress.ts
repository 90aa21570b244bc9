/**
 * Progress on stderr, so stdout carries only the summary (and stays parseable with --json).
 * A terminal gets a redrawn bar; a pipe or a container log gets a plain line every few seconds,
 * because carriage returns turn log collectors' output into one endless line.
 */
import type { Counters } from "./send.ts";

/** Where and how often progress is drawn. */
export interface ProgressOptions {
  tty: boolean;
  write: (text: string) => void;
  intervalMs?: number;
}

/** Seconds as "42 s", "3m05s" or "1h02m". */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const pad = (x: number) => String(x).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

/** The bar or line for the current counters (pure). ETA from the average rate so far. */
export function progressText(c: Counters, total: number, elapsedMs: number, tty: boolean): string {
  const done = c.accepted + c.failed;
  const rate = elapsedMs > 0 ? Math.round((c.accepted / elapsedMs) * 1000) : 0;
  const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
  const eta = done >= total
    ? "done"
    : done > 0
    ? `ETA ${duration((elapsedMs / done) * (total - done))}`
    : "ETA ?";
  const tail = `${done}/${total} events, ${rate} ev/s, ${c.retries} retries, ${c.failed} failed, ` +
    `${duration(elapsedMs)} elapsed, ${eta}`;
  if (!tty) return `progress: ${pct}% ${tail}`;
  const width = 30;
  const filled = Math.round((pct / 100) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(pct).padStart(3)}% ${tail}`;
}

/** Start drawing; call the returned function once sending is over. */
export function startProgress(counters: Counters, total: number, options: ProgressOptions): () => void {
  const started = performance.now();
  const draw = () => {
    const text = progressText(counters, total, performance.now() - started, options.tty);
    options.write(options.tty ? `\r${text}\x1b[K` : `${text}\n`);
  };
  const timer = setInterval(draw, options.intervalMs ?? (options.tty ? 100 : 2_000));
  return () => {
    clearInterval(timer);
    if (options.tty) {
      draw();
      options.write("\n");
    }
  };
}
