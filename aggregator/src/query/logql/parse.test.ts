import { describe, expect, test } from 'bun:test';
import { QueryRejected } from '../../errors';
import { type MetricExpr, requiredSubstrings } from './ast';
import { parseLogql } from './parse';

const show = (e: MetricExpr): string =>
  e.kind === 'binary'
    ? `(${show(e.left)} ${e.op}${e.returnBool ? ' bool' : ''} ${show(e.right)})`
    : e.kind === 'vector'
      ? `v${e.value}`
      : e.kind === 'scalar'
        ? String(e.value)
        : e.kind;
const metric = (text: string) => {
  const parsed = parseLogql(text);
  if (parsed.kind !== 'metric') throw new Error('not a metric query');
  return show(parsed.expr);
};

describe('parseLogql', () => {
  test('binary operators by PromQL precedence: ^ right-associative, then * / %, + -, comparisons', () => {
    expect(metric('vector(1) + vector(2) * 3 ^ 2 ^ 0.5 - 4 / 2')).toBe('((v1 + (v2 * (3 ^ (2 ^ 0.5)))) - (4 / 2))');
    expect(metric('1 - 2 - 3')).toBe('((1 - 2) - 3)');
    expect(metric('(1 + 2) * 3')).toBe('((1 + 2) * 3)');
    expect(metric('1 * (2 + 3) > bool 4')).toBe('((1 * (2 + 3)) > bool 4)');
  });

  test('errors name the line and column, as Loki does', () => {
    expect(() => parseLogql('{app="x"} |= "a"\n | json | ')).toThrow(
      new QueryRejected('parse error at line 2, col 11: syntax error: unexpected end of input'),
    );
    expect(() => parseLogql('{app=~".*"}')).toThrow(/at least one regexp or equality matcher/);
    expect(() => parseLogql('{app="x"} | pattern "<a>"')).toThrow(/is not supported by logbus/);
  });

  test('label matchers are fully anchored RE2; line regexes are not anchored', () => {
    const parsed = parseLogql('{app=~"(?i)we.", env!~"dev|test"} |~ "err"');
    if (parsed.kind !== 'logs') throw new Error('not a log query');
    const [app, env] = parsed.selector.matchers;
    expect([app!.test('WEB'), app!.test('web1'), env!.test('prod'), env!.test('dev')]).toEqual([true, false, true, false]);
    const line = parsed.selector.stages[0]!;
    expect(line.kind === 'line' && line.tests[0]!('an error here')).toBe(true);
  });
});

describe('requiredSubstrings', () => {
  const stagesOf = (text: string) => {
    const parsed = parseLogql(text);
    if (parsed.kind !== 'logs') throw new Error('not a log query');
    return parsed.selector.stages;
  };

  test('|= texts JSON never escapes go to SQL; escaped or rewritten characters, or/!=/regex and after line_format do not', () => {
    expect(requiredSubstrings(stagesOf('{a="b"} |= "timeout" |= "upstream 5" | json |= "x"'))).toEqual(['timeout', 'upstream 5', 'x']);
    for (const text of ['say \\"hi\\"', 'a\\\\b', 'a/b', '<b>', 'a&b', 'café', 'tab\\there']) {
      expect(requiredSubstrings(stagesOf(`{a="b"} |= "${text}"`))).toEqual([]);
    }
    expect(requiredSubstrings(stagesOf('{a="b"} |= "x" or "y" != "z" |~ "w"'))).toEqual([]);
    expect(requiredSubstrings(stagesOf('{a="b"} | line_format "{{.a}}" |= "x"'))).toEqual([]);
  });
});
