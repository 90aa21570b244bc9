/**
 * The LogQL subset logbus evaluates, as plain data (parse.ts builds it from Grafana's own
 * grammar, @grafana/lezer-logql). Anything the grammar accepts but this subset leaves out is
 * refused at parse time with a 400 naming it, never half-evaluated.
 */

/** A label (or line) test; RE2 semantics, label regexes fully anchored as in Loki. */
export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
  test(value: string): boolean;
}

export type CompareOp = '==' | '!=' | '>' | '>=' | '<' | '<=';

export type LabelPredicate =
  | { kind: 'match'; matcher: Matcher }
  | { kind: 'compare'; name: string; op: CompareOp; value: number; unit: 'number' | 'duration' | 'bytes' }
  | { kind: 'and' | 'or'; left: LabelPredicate; right: LabelPredicate };

export type Stage =
  /** `|= "a" or "b"`: the line passes when any of `tests` does (negated ops: when none does). */
  | { kind: 'line'; negate: boolean; tests: ((line: string) => boolean)[]; contains?: string }
  | { kind: 'json' }
  | { kind: 'logfmt' }
  | { kind: 'labels'; predicate: LabelPredicate }
  | { kind: 'drop' | 'keep'; names: (string | Matcher)[] }
  | { kind: 'line_format'; template: string };

export interface LogSelector {
  matchers: Matcher[];
  stages: Stage[];
}

export type RangeOp = 'count_over_time' | 'rate' | 'bytes_over_time' | 'bytes_rate';
export type VectorOp = 'sum' | 'avg' | 'min' | 'max' | 'count' | 'topk' | 'bottomk';
export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '^' | CompareOp;

export interface Grouping {
  without: boolean;
  labels: string[];
}

export type MetricExpr =
  | { kind: 'range'; op: RangeOp; selector: LogSelector; rangeMs: number }
  | { kind: 'aggregate'; op: VectorOp; k: number | null; grouping: Grouping | null; inner: MetricExpr }
  | { kind: 'vector'; value: number }
  | { kind: 'scalar'; value: number }
  | { kind: 'binary'; op: BinaryOp; returnBool: boolean; left: MetricExpr; right: MetricExpr };

export type Query = { kind: 'logs'; selector: LogSelector } | { kind: 'metric'; expr: MetricExpr };

/**
 * Texts every matching line must contain and that the stored payload text then contains too, so
 * SQL can skip rows without them (scan.ts): `|= "x"` filters that run on the original line
 * (before any line_format), whose text JSON never escapes and no encoder rewrites (printable
 * ASCII without " \ / < > &; Go's encoder writes < > & as \u003c ...). A line is the payload
 * text itself (/publish) or a string inside it (Loki line, OTLP body, Elasticsearch message).
 */
export function requiredSubstrings(stages: readonly Stage[]): string[] {
  const out: string[] = [];
  for (const stage of stages) {
    if (stage.kind === 'line_format') break;
    if (
      stage.kind === 'line' &&
      stage.contains !== undefined &&
      /^[\x20\x21\x23-\x25\x27-\x2e\x30-\x3b\x3d\x3f-\x5b\x5d-\x7e]+$/.test(stage.contains)
    )
      out.push(stage.contains);
  }
  return out;
}

/** Every range selector of a metric expression (what the evaluation scans). */
export function rangeSelectors(expr: MetricExpr): Extract<MetricExpr, { kind: 'range' }>[] {
  switch (expr.kind) {
    case 'range':
      return [expr];
    case 'aggregate':
      return rangeSelectors(expr.inner);
    case 'binary':
      return [...rangeSelectors(expr.left), ...rangeSelectors(expr.right)];
    default:
      return [];
  }
}
