/**
 * Structured logs: pino, one JSON object per line on stdout, level from LOG_LEVEL. When stdout is
 * a terminal the same objects are printed as short coloured lines instead (a few lines below
 * rather than pino-pretty: it runs synchronously in-process, where a pino transport would need a
 * worker thread and one more dependency for a developer convenience).
 */
import pino from 'pino';
import type { LogLevel } from './config';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** Human-readable lines; defaults to whether stdout is a terminal. */
  pretty?: boolean;
  /** Where lines go; defaults to stdout. */
  write?: (line: string) => void;
}

export function createLogger(level: LogLevel, { pretty = process.stdout.isTTY === true, write }: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Errors keep their `cause` chain as nested objects (a postgres.js error under a 503, say).
    serializers: { err: pino.stdSerializers.errWithCause },
  };
  if (!pretty && !write) return pino(options);
  const out = write ?? ((line: string) => void process.stdout.write(line));
  return pino(options, { write: (line: string) => out(pretty ? formatPretty(line) : line) });
}

const LEVELS: Record<number, [name: string, colour: number]> = {
  10: ['TRACE', 90],
  20: ['DEBUG', 36],
  30: ['INFO ', 32],
  40: ['WARN ', 33],
  50: ['ERROR', 31],
  60: ['FATAL', 35],
};
const OMIT = new Set(['level', 'time', 'pid', 'msg', 'err']);

/** One JSON log line as `12:00:00.123 INFO  message key=value …`, an error's stack below it. */
export function formatPretty(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  const [name, colour] = LEVELS[entry.level as number] ?? ['?????', 0];
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !OMIT.has(key))
    .map(([key, value]) => `\x1b[2m${key}=\x1b[0m${typeof value === 'string' ? value : JSON.stringify(value)}`);
  let text = `\x1b[2m${time}\x1b[0m \x1b[${colour}m${name}\x1b[0m ${entry.msg ?? ''} ${fields.join(' ')}`.trimEnd();
  for (let err = entry.err as { stack?: string; message?: string; cause?: unknown } | undefined; err; err = err.cause as typeof err) {
    text += `\n  \x1b[31m${(err.stack ?? err.message ?? '').replaceAll('\n', '\n  ')}\x1b[0m`;
  }
  return `${text}\n`;
}
