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
  return null;
}
