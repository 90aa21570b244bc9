/** Structured logs: one JSON object per line on stdout (level, time, message, fields). */

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  with(fields: Record<string, unknown>): Logger;
}

/** A logger writing JSON lines at `level` and above; `base` fields go on every line. */
export function createLogger(
  level: Level = 'info',
  base: Record<string, unknown> = {},
  write: (line: string) => unknown = (line) => process.stdout.write(line),
): Logger {
  const emit = (l: Level, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[l] < RANK[level]) return;
    const extra = Object.fromEntries(Object.entries(fields ?? {}).map(([k, v]) => [k, v instanceof Error ? v.message : v]));
    write(`${JSON.stringify({ time: new Date().toISOString(), level: l, msg, ...base, ...extra })}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    with: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}
