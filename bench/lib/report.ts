/**
 * The report: a header (when, where, what versions and configuration), one table per scenario
 * with each figure as "median (min–max)", the targets, the checks and the observations.
 * Markdown for people, --json for tools; both come from the same Report object.
 */
import type { StatementCost } from './pg-stats';
import type { Check, ScenarioResult, Unit } from './scenario';
import type { Figure } from './summary';
import type { Target } from './targets';

export interface Meta {
  date: string;
  machine: string;
  versions: Record<string, string>;
  /** Configuration lines: aggregator environment and bench parameters. */
  config: Record<string, string | number>;
  loadAverage: { start: string; end: string };
  seconds: number;
}

export interface Report {
  meta: Meta;
  scenarios: ScenarioResult[];
  targets: Target[];
  /** Scenarios that stopped with an error. */
  failures: { scenario: string; error: string }[];
}

/** Formats one number for its unit. */
export function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return 'n/a';
  const fixed = (digits: number) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  switch (unit) {
    case 'ev/s':
    case 'req/s':
      return fixed(0);
    case 'ms':
      return fixed(value < 10 ? 2 : value < 100 ? 1 : 0);
    case 's':
      return fixed(2);
    case 'MB':
      return fixed(1);
    case '%':
      return fixed(value < 10 ? 2 : 1);
    case 'x':
      return `${fixed(2)}x`;
    case 'n':
      return fixed(0);
    case 'load':
      return fixed(2);
  }
}

/** "median (min–max)", or just the value when the runs agree or there was one. */
export function formatFigure(f: Figure, unit: Unit): string {
  const median = formatValue(f.median, unit);
  const [min, max] = [formatValue(f.min, unit), formatValue(f.max, unit)];
  return f.runs.length < 2 || min === max ? median : `${median} (${min}–${max})`;
}

const cell = (text: string) => text.replaceAll('|', '\\|');

/** Checks with the same name become one line: passed only if every run passed. */
function mergeChecks(checks: Check[]): Check[] {
  const merged = new Map<string, Check>();
  for (const c of checks) {
    const seen = merged.get(c.name);
    if (!seen || (seen.ok && !c.ok)) merged.set(c.name, { ...c });
  }
  return [...merged.values()];
}

function statementsTable(title: string, statements: StatementCost[]): string[] {
  return [
    `${title}:`,
    '',
    '| share | calls | mean ms | rows | statement |',
    '|---:|---:|---:|---:|---|',
    ...statements.map(
      (s) =>
        `| ${s.sharePct.toFixed(1)}% | ${s.calls.toLocaleString('en-US')} | ${s.meanMs.toFixed(2)} | ${s.rows.toLocaleString('en-US')} | \`${cell(s.query)}\` |`,
    ),
    '',
  ];
}

export function toMarkdown(report: Report): string {
  const { meta } = report;
  const out: string[] = [
    `## logbus benchmark — ${meta.date}`,
    '',
    `- Machine: ${meta.machine}`,
    `- Versions: ${Object.entries(meta.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `- Configuration: ${Object.entries(meta.config)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    `- Load average (1/5/15 min): ${meta.loadAverage.start} at start, ${meta.loadAverage.end} at end; total ${(meta.seconds / 60).toFixed(1)} min`,
    '- Each figure: median of the runs, (min–max) when they differ. "other processes\' CPU" is the share of the whole machine used by processes outside the bench during the run (other people\'s work on a shared machine).',
    '',
  ];
  for (const result of report.scenarios) {
    const figures = result.runs.figures();
    out.push(`### ${result.title}`, '', '| metric | value | runs |', '|---|---:|---:|');
    for (const row of result.rows) {
      const f = figures[row.key];
      if (f) out.push(`| ${cell(row.label)} | ${formatFigure(f, row.unit)} | ${f.runs.length} |`);
    }
    out.push('');
  }
  out.push('### Targets', '', '| target | goal | measured | result |', '|---|---|---|---|');
  for (const t of report.targets)
    out.push(`| ${cell(t.target)} | ${cell(t.goal)} | ${cell(t.measured)} | ${t.pass === null ? 'n/a' : t.pass ? 'PASS' : '**FAIL**'} |`);
  out.push('');

  const checks = report.scenarios.flatMap((r) => mergeChecks(r.checks));
  if (checks.length > 0 || report.failures.length > 0) {
    out.push('### Checks', '');
    for (const c of checks) out.push(`- ${c.ok ? 'ok' : '**FAILED**'}: ${c.name} — ${c.detail}`);
    for (const f of report.failures) out.push(`- **FAILED**: scenario ${f.scenario} stopped: ${f.error}`);
    out.push('');
  }

  const observations: string[] = [];
  for (const result of report.scenarios) {
    for (const note of result.notes) observations.push(note, '');
    for (const [title, statements] of Object.entries(result.statements)) observations.push(...statementsTable(title, statements));
  }
  if (observations.length > 0)
    out.push(
      '### Observations',
      '',
      'Statement tables: pg_stat_statements, ranked by execution time; share = of all statement time in that database.',
      '',
      ...observations,
    );
  return out.join('\n');
}

export function toJson(report: Report): string {
  return JSON.stringify(
    {
      meta: report.meta,
      scenarios: Object.fromEntries(
        report.scenarios.map((r) => [
          r.name,
          {
            title: r.title,
            figures: r.runs.figures(),
            rows: r.rows,
            checks: mergeChecks(r.checks),
            notes: r.notes,
            statements: r.statements,
            data: r.data,
          },
        ]),
      ),
      targets: report.targets,
      failures: report.failures,
    },
    null,
    2,
  );
}
