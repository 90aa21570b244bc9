/**
 * A LogQL pipeline run over one entry in process: line filters, `| json`, `| logfmt`, label
 * filters, drop/keep and line_format, in order. Pure. Extracted labels follow Loki: nested JSON
 * keys joined with `_`, a name already among the stream labels gets `_extracted`, a line that
 * does not parse gets `__error__` (JSONParserErr, LogfmtParserErr) and goes on.
 */
import type { CompareOp, LabelPredicate, Matcher, Stage } from './logql/ast';
import { parseBytes, parseDuration } from './logql/literals';
import { type Labels, sanitizeLabelName } from './entry';

export interface Processed {
  labels: Labels;
  line: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function addExtracted(labels: Labels, streamLabels: Labels, name: string, value: string): void {
  const clean = sanitizeLabelName(name);
  if (clean === '') return;
  labels[clean in streamLabels ? `${clean}_extracted` : clean] = value;
}

function flattenJson(value: Json, prefix: string, labels: Labels, streamLabels: Labels): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flattenJson(inner, prefix === '' ? key : `${prefix}_${key}`, labels, streamLabels);
    return;
  }
  if (Array.isArray(value) || prefix === '') return; // Loki's `| json` skips arrays
  addExtracted(labels, streamLabels, prefix, value === null ? '' : String(value));
}

function setError(labels: Labels, error: string, details: string): void {
  labels.__error__ ??= error;
  labels.__error_details__ ??= details;
}

function parseJson(line: string, labels: Labels, streamLabels: Labels): void {
  let value: Json;
  try {
    value = JSON.parse(line) as Json;
  } catch (error) {
    setError(labels, 'JSONParserErr', (error as Error).message);
    return;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    setError(labels, 'JSONParserErr', 'the line is not a JSON object');
    return;
  }
  flattenJson(value, '', labels, streamLabels);
}

const LOGFMT_PAIR = /\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?/y;

function parseLogfmt(line: string, labels: Labels, streamLabels: Labels): void {
  LOGFMT_PAIR.lastIndex = 0;
  while (LOGFMT_PAIR.lastIndex < line.length) {
    const start = LOGFMT_PAIR.lastIndex;
    const match = LOGFMT_PAIR.exec(line);
    if (!match || LOGFMT_PAIR.lastIndex === start) {
      if (line.slice(start).trim() === '') return;
      setError(labels, 'LogfmtParserErr', `logfmt syntax error at pos ${start + 1}`);
      return;
    }
    const raw = match[2] ?? '';
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        value = raw.slice(1, -1);
      }
    }
    addExtracted(labels, streamLabels, match[1]!, value);
  }
}

function compare(a: number, op: CompareOp, b: number): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
  }
}

function holds(predicate: LabelPredicate, labels: Labels): boolean {
  switch (predicate.kind) {
    case 'and':
      return holds(predicate.left, labels) && holds(predicate.right, labels);
    case 'or':
      return holds(predicate.left, labels) || holds(predicate.right, labels);
    case 'match':
      return predicate.matcher.test(labels[predicate.matcher.name] ?? '');
    case 'compare': {
      const text = labels[predicate.name];
      if (text === undefined) return false;
      const value =
        predicate.unit === 'number'
          ? text.trim() === ''
            ? Number.NaN
            : Number(text)
          : predicate.unit === 'duration'
            ? parseDuration(text)
            : parseBytes(text);
      if (value === null || Number.isNaN(value)) {
        // Loki keeps the line and says why the filter could not be applied.
        setError(labels, 'LabelFilterErr', `cannot read ${JSON.stringify(text)} of label ${predicate.name} as a ${predicate.unit}`);
        return true;
      }
      return compare(value, predicate.op, predicate.value);
    }
  }
}

const TEMPLATE_FIELD = /\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}/g;

/** Whether a line_format template is within what logbus renders: text and `{{.label}}` fields. */
export function isSimpleTemplate(template: string): boolean {
  return !template.replace(TEMPLATE_FIELD, '').includes('{{');
}

function dropOrKeep(labels: Labels, names: (string | Matcher)[], keep: boolean): Labels {
  const listed = (name: string) => names.some((n) => (typeof n === 'string' ? n === name : n.name === name && n.test(labels[name]!)));
  const out: Labels = {};
  for (const [name, value] of Object.entries(labels)) if (listed(name) === keep) out[name] = value;
  return out;
}

/** Runs the stages over an entry; null when a filter drops it. `labels` is not modified. */
export function runPipeline(stages: readonly Stage[], streamLabels: Labels, line: string): Processed | null {
  let labels = streamLabels;
  let copied = false;
  const writable = () => {
    if (!copied) {
      labels = { ...labels };
      copied = true;
    }
    return labels;
  };
  for (const stage of stages) {
    switch (stage.kind) {
      case 'line': {
        const any = stage.tests.some((test) => test(line));
        if (any === stage.negate) return null;
        break;
      }
      case 'json':
        parseJson(line, writable(), streamLabels);
        break;
      case 'logfmt':
        parseLogfmt(line, writable(), streamLabels);
        break;
      case 'labels':
        if (!holds(stage.predicate, writable())) return null;
        break;
      case 'drop':
      case 'keep':
        labels = dropOrKeep(labels, stage.names, stage.kind === 'keep');
        copied = true;
        break;
      case 'line_format':
        line = stage.template.replace(TEMPLATE_FIELD, (_, name: string) => labels[name] ?? '');
        break;
    }
  }
  return { labels, line };
}
