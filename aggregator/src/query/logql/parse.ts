/**
 * LogQL text -> the subset's AST (ast.ts), on Grafana's own grammar (@grafana/lezer-logql), so
 * what Grafana's query editor accepts is what we parse. Errors are QueryRejected with Loki's
 * wording, `parse error at line L, col C: ...`, which Grafana shows as is.
 */
import { parser } from '@grafana/lezer-logql';
import type { SyntaxNode } from '@lezer/common';
import { QueryRejected } from '../../errors';
import type { BinaryOp, CompareOp, Grouping, LabelPredicate, LogSelector, Matcher, MetricExpr, Query, RangeOp, Stage, VectorOp } from './ast';
import { parseBytes, parseDuration, unquote } from './literals';
import { compileRegex } from './regex';
import { isSimpleTemplate } from '../pipeline';

/** Longest query text accepted (Grafana's are well under 1 KiB). */
export const MAX_QUERY_LENGTH = 16 * 1024;

class Parse {
  constructor(readonly text: string) {}

  fail(at: number, message: string): never {
    const before = this.text.slice(0, at).split('\n');
    throw new QueryRejected(`parse error at line ${before.length}, col ${before.at(-1)!.length + 1}: ${message}`);
  }

  src(node: SyntaxNode): string {
    return this.text.slice(node.from, node.to);
  }

  child(node: SyntaxNode, name: string): SyntaxNode | null {
    return node.getChild(name);
  }

  need(node: SyntaxNode, name: string): SyntaxNode {
    return node.getChild(name) ?? this.fail(node.from, `expected ${name} in ${JSON.stringify(this.src(node))}`);
  }

  unsupported(node: SyntaxNode, what = this.src(node)): never {
    return this.fail(node.from, `${JSON.stringify(what)} is not supported by logbus (docs/QUERY.md lists the LogQL subset)`);
  }

  string(node: SyntaxNode): string {
    return unquote(this.src(node)) ?? this.fail(node.from, `invalid string literal ${this.src(node)}`);
  }

  regex(node: SyntaxNode, pattern: string, anchored: boolean): (text: string) => boolean {
    try {
      return compileRegex(pattern, anchored);
    } catch (error) {
      return this.fail(node.from, `invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message}`);
    }
  }

  matcher(node: SyntaxNode): Matcher {
    const name = this.src(this.need(node, 'Identifier'));
    const value = this.string(this.need(node, 'String'));
    const opNode = this.need(node, 'Identifier').nextSibling!;
    const op = opNode.name === 'Eq' ? '=' : opNode.name === 'Neq' ? '!=' : opNode.name === 'Re' ? '=~' : opNode.name === 'Nre' ? '!~' : null;
    if (op === null) return this.unsupported(node);
    if (op === '=') return { name, op, value, test: (v) => v === value };
    if (op === '!=') return { name, op, value, test: (v) => v !== value };
    const matches = this.regex(node, value, true);
    return { name, op, value, test: op === '=~' ? matches : (v) => !matches(v) };
  }

  selector(node: SyntaxNode): Matcher[] {
    const matchers = node.getChild('Matchers');
    const list = matchers ? this.matcherList(matchers) : [];
    // Loki's rule: a selector that matches everything would read every stream.
    if (!list.some((m) => !m.test(''))) {
      this.fail(
        node.from,
        'queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will',
      );
    }
    return list;
  }

  matcherList(node: SyntaxNode): Matcher[] {
    const out: Matcher[] = [];
    for (let c = node.firstChild; c; c = c.nextSibling) {
      if (c.name === 'Matchers') out.push(...this.matcherList(c));
      else if (c.name === 'Matcher') out.push(this.matcher(c));
    }
    return out;
  }

  pipeline(node: SyntaxNode | null, stages: Stage[] = []): Stage[] {
    if (!node) return stages;
    for (let c = node.firstChild; c; c = c.nextSibling) {
      if (c.name === 'PipelineExpr') this.pipeline(c, stages);
      else if (c.name === 'PipelineStage') this.stage(c, stages);
    }
    return stages;
  }

  stage(node: SyntaxNode, stages: Stage[]): void {
    const lineFilters = node.getChild('LineFilters');
    if (lineFilters) this.lineFilters(lineFilters, stages);
    else stages.push(this.otherStage(node.getChild('Pipe')?.nextSibling ?? node.firstChild!));
  }

  otherStage(body: SyntaxNode): Stage {
    switch (body.name) {
      case 'LabelParser':
        return body.getChild('Json') ? { kind: 'json' } : this.unsupported(body);
      case 'LogfmtParser':
        return body.getChild('LogfmtParserFlags') ? this.unsupported(body) : { kind: 'logfmt' };
      case 'LabelFilter':
        return { kind: 'labels', predicate: this.labelFilter(body) };
      case 'DropLabelsExpr':
      case 'KeepLabelsExpr': {
        const names: (string | Matcher)[] = [];
        const walk = (n: SyntaxNode) => {
          for (let c = n.firstChild; c; c = c.nextSibling) {
            if (c.name === 'DropLabels' || c.name === 'KeepLabels') walk(c);
            else if (c.name === 'DropLabel' || c.name === 'KeepLabel') {
              const matcher = c.getChild('Matcher');
              names.push(matcher ? this.matcher(matcher) : this.src(this.need(c, 'Identifier')));
            }
          }
        };
        walk(body);
        return { kind: body.name === 'DropLabelsExpr' ? 'drop' : 'keep', names };
      }
      case 'LineFormatExpr': {
        const template = this.string(this.need(body, 'String'));
        if (!isSimpleTemplate(template)) return this.unsupported(body, 'line_format templates beyond text and {{.label}} fields');
        return { kind: 'line_format', template };
      }
      default:
        return this.unsupported(body);
    }
  }

  lineFilters(node: SyntaxNode, stages: Stage[]): void {
    for (let c = node.firstChild; c; c = c.nextSibling) {
      if (c.name === 'LineFilters') this.lineFilters(c, stages);
      else if (c.name === 'LineFilter') stages.push(this.lineFilter(c));
    }
  }

  lineFilter(node: SyntaxNode): Stage {
    const op = this.need(node, 'Filter').firstChild!.name;
    if (op !== 'PipeExact' && op !== 'Neq' && op !== 'PipeMatch' && op !== 'Nre') return this.unsupported(node);
    const strings: SyntaxNode[] = [];
    const collect = (n: SyntaxNode) => {
      for (let c = n.firstChild; c; c = c.nextSibling) {
        if (c.name === 'String') strings.push(c);
        else if (c.name === 'OrFilter') collect(c);
        else if (c.name === 'FilterOp') this.unsupported(c);
      }
    };
    collect(node);
    if (strings.length === 0) return this.fail(node.to, 'expected a string after the line filter');
    const regex = op === 'PipeMatch' || op === 'Nre';
    const tests = strings.map((s) => {
      const value = this.string(s);
      return regex ? this.regex(s, value, false) : (line: string) => line.includes(value);
    });
    const contains = op === 'PipeExact' && strings.length === 1 ? this.string(strings[0]!) : undefined;
    return { kind: 'line', negate: op === 'Neq' || op === 'Nre', tests, ...(contains === undefined ? {} : { contains }) };
  }

  labelFilter(node: SyntaxNode): LabelPredicate {
    const parts = node.getChildren('LabelFilter');
    if (parts.length === 2) {
      const or = node.getChild('Or') !== null;
      return { kind: or ? 'or' : 'and', left: this.labelFilter(parts[0]!), right: this.labelFilter(parts[1]!) };
    }
    if (parts.length === 1) return this.labelFilter(parts[0]!);
    const first = node.firstChild;
    if (!first) return this.fail(node.from, 'empty label filter');
    if (first.name === 'Matcher') return { kind: 'match', matcher: this.matcher(first) };
    if (first.name === 'NumberFilter') {
      const literal = this.need(first, 'LiteralExpr');
      const value = Number(this.src(literal));
      if (!Number.isFinite(value)) return this.fail(literal.from, `invalid number ${this.src(literal)}`);
      return { kind: 'compare', name: this.src(this.need(first, 'Identifier')), op: this.compareOp(first), value, unit: 'number' };
    }
    if (first.name === 'UnitFilter') {
      const inner = first.firstChild!;
      const duration = inner.name === 'DurationFilter';
      const valueNode = this.need(inner, duration ? 'Duration' : 'Bytes');
      const value = duration ? parseDuration(this.src(valueNode)) : parseBytes(this.src(valueNode));
      if (value === null) return this.fail(valueNode.from, `invalid ${duration ? 'duration' : 'byte size'} ${this.src(valueNode)}`);
      return {
        kind: 'compare',
        name: this.src(this.need(inner, 'Identifier')),
        op: this.compareOp(inner),
        value,
        unit: duration ? 'duration' : 'bytes',
      };
    }
    return this.unsupported(first);
  }

  compareOp(node: SyntaxNode): CompareOp {
    for (let c = node.firstChild; c; c = c.nextSibling) {
      const op = COMPARE_OPS[c.name];
      if (op) return op;
    }
    return this.fail(node.from, `expected a comparison in ${JSON.stringify(this.src(node))}`);
  }

  logSelector(node: SyntaxNode): LogSelector {
    return { matchers: this.selector(this.need(node, 'Selector')), stages: this.pipeline(node.getChild('PipelineExpr')) };
  }

  metric(node: SyntaxNode): MetricExpr {
    const first = node.firstChild;
    if (!first) return this.fail(node.from, 'empty expression');
    switch (first.name) {
      case 'MetricExpr':
        return this.metric(first); // parenthesised
      case 'RangeAggregationExpr':
        return this.rangeAggregation(first);
      case 'VectorAggregationExpr':
        return this.vectorAggregation(first);
      case 'BinOpExpr':
        return this.binary(first);
      case 'VectorExpr':
        return { kind: 'vector', value: this.number(this.need(first, 'Number')) };
      case 'LiteralExpr': {
        const negative = first.getChild('Sub') !== null;
        const value = this.number(this.need(first, 'Number'));
        return { kind: 'scalar', value: negative ? -value : value };
      }
      default:
        return this.unsupported(first);
    }
  }

  number(node: SyntaxNode): number {
    const value = Number(this.src(node));
    return Number.isFinite(value) ? value : this.fail(node.from, `invalid number ${this.src(node)}`);
  }

  rangeAggregation(node: SyntaxNode): MetricExpr {
    const opName = this.need(node, 'RangeOp').firstChild!.name;
    const op = RANGE_OPS[opName];
    if (!op) return this.unsupported(this.need(node, 'RangeOp'));
    if (node.getChild('Grouping')) return this.unsupported(node.getChild('Grouping')!);
    const range = this.need(node, 'LogRangeExpr');
    if (range.getChild('OffsetExpr')) return this.unsupported(range.getChild('OffsetExpr')!);
    if (range.getChild('UnwrapExpr')) return this.unsupported(range.getChild('UnwrapExpr')!);
    const duration = this.need(this.need(range, 'Range'), 'Duration');
    const rangeMs = parseDuration(this.src(duration));
    if (rangeMs === null || rangeMs <= 0) return this.fail(duration.from, `invalid range ${this.src(duration)}`);
    const stages: Stage[] = [];
    for (const pipeline of range.getChildren('PipelineExpr')) this.pipeline(pipeline, stages);
    return { kind: 'range', op, rangeMs, selector: { matchers: this.selector(this.need(range, 'Selector')), stages } };
  }

  vectorAggregation(node: SyntaxNode): MetricExpr {
    const opNode = this.need(node, 'VectorOp');
    const op = VECTOR_OPS[opNode.firstChild!.name];
    if (!op) return this.unsupported(opNode);
    const grouping = node.getChild('Grouping');
    let k: number | null = null;
    if (op === 'topk' || op === 'bottomk') {
      const number = node.getChild('Number') ?? this.fail(node.from, `${op} needs a parameter: ${op}(k, ...)`);
      k = this.number(number);
      if (!Number.isInteger(k) || k < 1) return this.fail(number.from, `${op} parameter must be a positive integer, got ${this.src(number)}`);
    } else if (node.getChild('Number')) {
      return this.fail(node.getChild('Number')!.from, `${op} takes no parameter`);
    }
    return { kind: 'aggregate', op, k, grouping: grouping ? this.grouping(grouping) : null, inner: this.metric(this.need(node, 'MetricExpr')) };
  }

  grouping(node: SyntaxNode): Grouping {
    const labels: string[] = [];
    const walk = (n: SyntaxNode) => {
      for (let c = n.firstChild; c; c = c.nextSibling) {
        if (c.name === 'Labels') walk(c);
        else if (c.name === 'Identifier') labels.push(this.src(c));
      }
    };
    walk(node);
    return { without: node.getChild('Without') !== null, labels };
  }

  /**
   * A chain of binary operations. Grafana's grammar nests every chain to the right without
   * precedence (it serves highlighting), so the chain is flattened and rebuilt here with
   * PromQL's precedence: ^ (right-associative), then * / %, then + -, then comparisons.
   */
  binary(node: SyntaxNode): MetricExpr {
    const operands: MetricExpr[] = [];
    const ops: { op: BinaryOp; returnBool: boolean }[] = [];
    this.flatten(node, operands, ops);
    return climb(operands, ops);
  }

  /** Appends `left op right` of a BinOpExpr, unparenthesised operations on either side flattened. */
  flatten(node: SyntaxNode, operands: MetricExpr[], ops: { op: BinaryOp; returnBool: boolean }[]): void {
    const [left, right] = node.getChildren('Expr');
    if (!left || !right) this.fail(node.from, 'expected an expression on both sides of the operator');
    let op: BinaryOp | null = null;
    for (let c = node.firstChild; c; c = c.nextSibling) op ??= BINARY_OPS[c.name] ?? null;
    if (op === null) this.unsupported(node);
    const modifier = node.getChild('BinOpModifier');
    if (modifier?.getChild('OnOrIgnoringModifier')) this.unsupported(modifier);
    this.operand(left, operands, ops);
    ops.push({ op, returnBool: Boolean(modifier?.getChild('Bool')) });
    this.operand(right, operands, ops);
  }

  operand(expr: SyntaxNode, operands: MetricExpr[], ops: { op: BinaryOp; returnBool: boolean }[]): void {
    // A parenthesised operation is MetricExpr > MetricExpr > BinOpExpr: an operand of its own.
    const chained = expr.getChild('MetricExpr')?.firstChild;
    if (chained?.name === 'BinOpExpr') this.flatten(chained, operands, ops);
    else operands.push(this.expr(expr));
  }

  /** An `Expr` node inside a metric expression (binary operands). */
  expr(node: SyntaxNode): MetricExpr {
    const metric = node.getChild('MetricExpr');
    if (!metric) return this.fail(node.from, 'a log query cannot be an operand: use a metric such as count_over_time(...)');
    return this.metric(metric);
  }
}

const COMPARE_OPS: Record<string, CompareOp> = { Gtr: '>', Gte: '>=', Lss: '<', Lte: '<=', Eql: '==', Eq: '==', Neq: '!=' };
const BINARY_OPS: Record<string, BinaryOp> = { Add: '+', Sub: '-', Mul: '*', Div: '/', Mod: '%', Pow: '^', ...COMPARE_OPS };
const RANGE_OPS: Record<string, RangeOp> = {
  CountOverTime: 'count_over_time',
  Rate: 'rate',
  BytesOverTime: 'bytes_over_time',
  BytesRate: 'bytes_rate',
};
const VECTOR_OPS: Record<string, VectorOp> = { Sum: 'sum', Avg: 'avg', Min: 'min', Max: 'max', Count: 'count', Topk: 'topk', Bottomk: 'bottomk' };

const PRECEDENCE: Record<BinaryOp, number> = { '^': 4, '*': 3, '/': 3, '%': 3, '+': 2, '-': 2, '==': 1, '!=': 1, '>': 1, '>=': 1, '<': 1, '<=': 1 };

/** Builds the tree of `operands[0] ops[0] operands[1] ...` by precedence (left-associative, but ^). */
function climb(operands: MetricExpr[], ops: { op: BinaryOp; returnBool: boolean }[]): MetricExpr {
  let next = 0; // the next operator; its left operand is operands[next]
  const parse = (minimum: number): MetricExpr => {
    let left = operands[next]!;
    while (next < ops.length && PRECEDENCE[ops[next]!.op] >= minimum) {
      const { op, returnBool } = ops[next]!;
      next++;
      const right = parse(op === '^' ? PRECEDENCE[op] : PRECEDENCE[op] + 1);
      left = { kind: 'binary', op, returnBool, left, right };
    }
    return left;
  };
  return parse(0);
}

/** Parses a LogQL query; throws QueryRejected (400) for a syntax error or an unsupported part. */
export function parseLogql(text: string): Query {
  const parse = new Parse(text);
  if (text.length > MAX_QUERY_LENGTH) parse.fail(0, `query longer than ${MAX_QUERY_LENGTH} characters`);
  if (text.trim() === '') parse.fail(0, 'syntax error: unexpected end of input, expecting { or a metric expression');
  const tree = parser.parse(text);
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        const found = text.slice(node.from, Math.max(node.to, node.from + 1)).slice(0, 20);
        parse.fail(node.from, found === '' ? 'syntax error: unexpected end of input' : `syntax error: unexpected ${JSON.stringify(found)}`);
      }
    },
  });
  const expr = tree.topNode.getChild('Expr') ?? parse.fail(0, 'syntax error: unexpected end of input');
  const log = expr.getChild('LogExpr');
  if (log) return { kind: 'logs', selector: parse.logSelector(log) };
  const metric = expr.getChild('MetricExpr') ?? parse.unsupported(expr);
  return { kind: 'metric', expr: parse.metric(metric) };
}
