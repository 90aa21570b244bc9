/**
 * LogQL literals: Go-quoted and raw strings, durations (`1m`, `1h30m`, `500ms`) and byte sizes
 * (`20MB`, `1KiB`). Pure; a malformed literal returns null and the caller reports where.
 */

const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" };

/** The text of a LogQL string literal: "Go-quoted" or `raw`; null for an invalid escape. */
export function unquote(literal: string): string | null {
  if (literal.startsWith('`')) return literal.endsWith('`') && literal.length >= 2 ? literal.slice(1, -1) : null;
  if (!literal.startsWith('"') || !literal.endsWith('"') || literal.length < 2) return null;
  const body = literal.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const char = body[i]!;
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = body[++i];
    if (next === undefined) return null;
    if (next in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[next];
      continue;
    }
    const hexLength = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const digits = body.slice(i + 1, i + 1 + hexLength);
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== hexLength) return null;
      const code = Number.parseInt(digits, 16);
      if (code > 0x10ffff) return null;
      out += String.fromCodePoint(code);
      i += hexLength;
      continue;
    }
    const octal = body.slice(i, i + 3);
    if (/^[0-7]{3}$/.test(octal)) {
      out += String.fromCharCode(Number.parseInt(octal, 8));
      i += 2;
      continue;
    }
    return null;
  }
  return out;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};
const DURATION = /^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)/g;

/** A duration in milliseconds (may be fractional below 1 ms), or null. */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  const sign = trimmed.startsWith('-') ? -1 : 1;
  const unsigned = trimmed.replace(/^[-+]/, '');
  if (!DURATION.test(unsigned)) return null;
  let total = 0;
  for (const [, amount, unit] of unsigned.matchAll(DURATION_PART)) total += Number(amount) * DURATION_UNITS[unit!]!;
  return Number.isFinite(total) ? sign * total : null;
}

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  pib: 1024 ** 5,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  p: 1e15,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
  ti: 1024 ** 4,
  pi: 1024 ** 5,
};

/** A byte size (`20MB`, `1.5KiB`, `300`), or null (humanize's rules, as Loki uses). */
export function parseBytes(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  if (!match) return null;
  const unit = match[2]!.toLowerCase();
  const factor = unit === '' ? 1 : BYTE_UNITS[unit];
  return factor === undefined ? null : Number(match[1]) * factor;
}
