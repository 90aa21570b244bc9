/**
 * A log query: the newest (backward) or oldest (forward) `limit` entries of start..end that pass
 * the selector and pipeline, grouped into streams by label set (Loki's `streams` result).
 */
import type { TransactionSql } from 'postgres';
import { QueryRejected } from '../errors';
import type { HorizonBound } from '../events/horizon';
import { type Labels, streamKey } from './entry';
import { type LogSelector, requiredSubstrings } from './logql/ast';
import type { QueryLimits } from './limits';
import { runPipeline } from './pipeline';
import { scanEntries } from './scan';

export interface LogQueryOptions {
  startNs: bigint;
  endNs: bigint;
  limit: number;
  direction: 'forward' | 'backward';
  /** Grafana's `categorize-labels`: extracted labels go in a third element, not in the stream. */
  categorizeLabels: boolean;
  deadline: number;
  belowSeq?: bigint;
}

export interface StreamResult {
  stream: Labels;
  values: ([string, string] | [string, string, { parsed?: Labels }])[];
}

/** Labels a parser stage added (or changed) relative to the stream's own. */
function parsedLabels(stream: Labels, labels: Labels): Labels | null {
  let parsed: Labels | null = null;
  for (const [name, value] of Object.entries(labels)) {
    if (stream[name] !== value) (parsed ??= {})[name] = value;
  }
  return parsed;
}

export async function runLogQuery(
  tx: TransactionSql,
  bound: HorizonBound,
  selector: LogSelector,
  options: LogQueryOptions,
  limits: QueryLimits,
): Promise<StreamResult[]> {
  const streams = new Map<string, StreamResult>();
  let count = 0;
  let bytes = 0;
  const scan = scanEntries(tx, bound, {
    startNs: options.startNs,
    endNs: options.endNs,
    matchers: selector.matchers,
    contains: requiredSubstrings(selector.stages),
    direction: options.direction,
    chunkRows: Math.min(limits.chunkRows, Math.max(options.limit * 2, 100)),
    maxScanBytes: limits.maxScanBytes,
    deadline: options.deadline,
    belowSeq: options.belowSeq,
  });
  outer: for await (const entries of scan) {
    for (const entry of entries) {
      const processed = runPipeline(selector.stages, entry.labels, entry.line);
      if (processed === null) continue;
      const parsed = options.categorizeLabels ? parsedLabels(entry.labels, processed.labels) : null;
      const labels = options.categorizeLabels ? keptStreamLabels(entry.labels, processed.labels) : processed.labels;
      const key = streamKey(labels);
      let stream = streams.get(key);
      if (!stream) {
        stream = { stream: labels, values: [] };
        streams.set(key, stream);
        bytes += key.length;
      }
      stream.values.push(options.categorizeLabels ? [entry.ns, processed.line, parsed ? { parsed } : {}] : [entry.ns, processed.line]);
      bytes += processed.line.length + 32 + (parsed ? JSON.stringify(parsed).length : 0);
      if (bytes > limits.maxResponseBytes) {
        throw new QueryRejected(`the response would exceed ${limits.maxResponseBytes} bytes: lower the limit or narrow the query`);
      }
      if (++count >= options.limit) break outer;
    }
  }
  return [...streams.values()];
}

/** The stream's own labels that the pipeline kept (drop/keep apply to them too). */
function keptStreamLabels(stream: Labels, labels: Labels): Labels {
  const kept: Labels = {};
  for (const [name, value] of Object.entries(stream)) if (labels[name] === value) kept[name] = value;
  return kept;
}
