/**
 * RFC 3339 `date-time`: full date, `T` (or `t` / space), time with an optional fraction, and a
 * mandatory offset. Every string accepted here is one PostgreSQL's timestamptz parses; the
 * calendar checks reject 2024-02-30 and friends, which a regex alone lets through.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** Why `value` is not an RFC 3339 date-time, or null when it is one. */
export function timestampProblem(value: string): string | null {
  const m = RFC3339.exec(value);
  if (!m) return 'must be an RFC 3339 date-time with an offset, e.g. 2025-01-31T12:00:00Z';
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return 'date does not exist';
  if (hour > 23 || minute > 59 || second > 60) return 'time of day out of range';
  if (m[9] !== undefined && (Number(m[9]) > 15 || Number(m[10]) > 59)) return 'offset out of range (at most ±15:59)';
  if (!withinWritableRange(year, month, day, hour, minute, second, m[7], m[8]!)) {
    return 'must fall between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z once converted to UTC';
  }
  return null;
}

// Bounds in milliseconds since the epoch (microseconds would pass 2^53). Events are returned in UTC as RFC 3339, which has
// four-digit years only: 0001-01-01T00:30:00+01:00 (year 0 in UTC) or 9999-12-31T23:59:60Z
// (year 10000 once PostgreSQL rolls the leap second over) could be stored but not written back.
const MIN_MS = utcMillis(1, 1, 1, 0, 0, 0);
const LAST_SECOND_MS = utcMillis(9999, 12, 31, 23, 59, 59);

function utcMillis(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

function withinWritableRange(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  fraction: string | undefined,
  offset: string,
): boolean {
  let offsetMinutes = 0;
  if (offset !== 'Z' && offset !== 'z') {
    const sign = offset[0] === '-' ? -1 : 1;
    offsetMinutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  }
  // PostgreSQL keeps microseconds, rounding the rest half up.
  const micros = fraction === undefined ? 0 : Math.round(Number(`0${fraction}`) * 1e6);
  const ms = utcMillis(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  return ms >= MIN_MS && (ms - LAST_SECOND_MS) * 1000 + micros <= 999_999;
}
