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

/** The bar or line for the current counters (pure). */
export function progressText(c: Counters, total: number, elapsedMs: number, tty: boolean): string {
  const done = c.accepted + c.failed;
  const rate = elapsedMs > 0 ? Math.round((c.accepted / elapsedMs) * 1000) : 0;
  const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
  const tail = `${done}/${total} events, ${rate} ev/s, ${c.retries} retries, ${c.failed} failed`;
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
