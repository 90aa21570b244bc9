/**
 * Durations as operators write them: a whole number and a unit, `500ms`, `30s`, `15m`, `12h`,
 * `7d`, `2w`. One unit, no fractions: "1.5d" or "1d12h" are rejected rather than guessed.
 */
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds, or null when `text` is not `<digits><unit>`. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,12})(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  return Number.isSafeInteger(ms) ? ms : null;
}

/**
 * The largest unit up to days that divides `ms` exactly: 259200000 -> "3d", 1500 -> "1500ms".
 * Never weeks: the defaults are written `7d` (config, docs), so a week prints as `7d`, not `1w`.
 */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms > 0 && ms % UNITS[unit]! === 0) return `${ms / UNITS[unit]!}${unit}`;
  }
  return `${ms}ms`;
}
