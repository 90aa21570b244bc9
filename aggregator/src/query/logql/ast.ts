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
  | { kind: 'line'; negate: boolean; tests: ((line: string) => boolean)[] }
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
