/**
 * The query side of the Loki API: each call parses its parameters and LogQL, waits for a query
 * slot and its share of the replica's read byte budget, and runs in one read transaction bound
 * by the query time limit (scan.ts). Returns plain objects; routes.ts only serialises them.
 */
import type { Sql } from '../db/client';
import { QueryRejected } from '../errors';
import type { TransactionSql } from 'postgres';
import type { HorizonBound, ReadHorizon } from '../events/horizon';
import { ReadBudget } from '../events/read-budget';
import { type Labels, streamKey } from './entry';
import type { LogSelector, Matcher } from './logql/ast';
import { parseLogql } from './logql/parse';
import type { QueryLimits } from './limits';
import { runLogQuery } from './log-query';
import { evaluate, stepsOf } from './metric-query';
import { type Query, param, parseDirection, parseLimit, parseRange, parseRangeParams, parseTime, requireQuery } from './params';
import { matrixBody, streamsBody, vectorBody } from './render';
import { inQueryTransaction, scanEntries } from './scan';
import { runPipeline } from './pipeline';
import { Tail } from './tail';

export interface QueryEngineDeps {
  sql: Sql;
  horizon: ReadHorizon;
  /** The replica's read byte budget, shared with GET /events and /subscribe. */
  budget: ReadBudget;
  limits: QueryLimits;
  now?: () => bigint;
  /** Subscribes to the replica's wake-ups for new applied events (subscribe/hub.ts); tails follow them. */
  onWake?: (listener: (slots: readonly number[] | null) => void) => () => void;
  /** false: metric queries never read the rollups (volume-rollup.ts); tests compare both paths. */
  rollups?: boolean;
}

const CATEGORIZE_LABELS = 'categorize-labels';
const NS_PER_MS = 1_000_000n;

export class QueryEngine {
  private readonly slots: ReadBudget;
  private readonly now: () => bigint;
  private tails = 0;

  constructor(private readonly deps: QueryEngineDeps) {
    this.slots = new ReadBudget(deps.limits.concurrency);
    this.now = deps.now ?? (() => BigInt(Date.now()) * NS_PER_MS);
  }

  get limits(): QueryLimits {
    return this.deps.limits;
  }

  /** Runs a read with a query slot, its byte budget, the horizon and the time limit. */
  private async run<T>(body: (tx: TransactionSql, bound: HorizonBound, deadline: number) => Promise<T>): Promise<T> {
    const { sql, horizon, budget, limits } = this.deps;
    // The time limit counts from arrival: waiting for a slot behind heavy queries spends it too,
    // so a request is answered (a 400 at worst) before Bun's idle timer (routes.ts) resets it.
    const deadline = Date.now() + limits.timeoutMs;
    return this.slots.run(1, () =>
      budget.run(limits.maxResponseBytes, async () => {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new QueryRejected('query timed out waiting for a query slot: the replica is busy with other queries; retry');
        const bound = await horizon.current();
        return inQueryTransaction(sql, remaining, (tx) => body(tx, bound, deadline));
      }),
    );
  }

  /** GET /loki/api/v1/query_range. */
  async queryRange(query: Query, encodingFlags: string[]): Promise<unknown> {
    const params = parseRangeParams(query, this.limits, this.now());
    const parsed = parseLogql(params.query);
    if (parsed.kind === 'logs') {
      const categorizeLabels = encodingFlags.includes(CATEGORIZE_LABELS);
      const result = await this.run((tx, bound, deadline) =>
        runLogQuery(tx, bound, parsed.selector, { ...params, categorizeLabels, deadline }, this.limits),
      );
      return streamsBody(result, categorizeLabels ? [CATEGORIZE_LABELS] : []);
    }
    const steps = stepsOf(params.startNs, params.endNs, params.stepMs, this.limits);
    const value = await this.run((tx, bound, deadline) =>
      evaluate(parsed.expr, { tx, bound, steps, limits: this.limits, deadline, rollups: this.deps.rollups }),
    );
    return matrixBody(value, steps);
  }

  /** GET /loki/api/v1/query: a metric query at one instant (a log query looks back one hour). */
  async instantQuery(query: Query, encodingFlags: string[]): Promise<unknown> {
    const text = requireQuery(query);
    const timeText = param(query, 'time');
    const time = timeText ? parseTime(timeText, 'time') : this.now();
    const parsed = parseLogql(text);
    if (parsed.kind === 'logs') {
      const categorizeLabels = encodingFlags.includes(CATEGORIZE_LABELS);
      const options = {
        startNs: time - 3_600_000n * NS_PER_MS,
        endNs: time,
        limit: parseLimit(query, this.limits),
        direction: parseDirection(query),
        categorizeLabels,
      };
      const result = await this.run((tx, bound, deadline) => runLogQuery(tx, bound, parsed.selector, { ...options, deadline }, this.limits));
      return streamsBody(result, categorizeLabels ? [CATEGORIZE_LABELS] : []);
    }
    const steps = stepsOf(time, time, 1000, this.limits);
    const value = await this.run((tx, bound, deadline) =>
      evaluate(parsed.expr, { tx, bound, steps, limits: this.limits, deadline, rollups: this.deps.rollups }),
    );
    return vectorBody(value, steps);
  }

  /**
   * The newest `metadataRows` events of a range matching `matchers`: what the metadata calls look
   * at. `bounded` is called when older events of the range were left unread.
   */
  private newestEntries(
    tx: TransactionSql,
    bound: HorizonBound,
    deadline: number,
    range: { startNs: bigint; endNs: bigint },
    matchers: readonly Matcher[],
    bounded?: () => void,
  ) {
    const { chunkRows, maxScanBytes, metadataRows } = this.limits;
    return scanEntries(tx, bound, {
      ...range,
      matchers,
      direction: 'backward',
      chunkRows,
      maxScanBytes,
      maxRows: metadataRows,
      deadline,
      onMaxRows: bounded,
    });
  }

  /** The warning a metadata answer carries when it looked at only part of its range. */
  private boundWarning(): string {
    return `only the newest ${this.limits.metadataRows} events of the range were looked at; a label seen only in older events is missing: narrow the range or the selector`;
  }

  /** The label sets of the newest events of the range matching one of `selectors` (all, when none). */
  private async labelSets(query: Query, selectors: LogSelector[]): Promise<{ sets: Labels[]; bounded: boolean }> {
    const { startNs, endNs } = parseRange(query, this.limits, this.now());
    const sets = new Map<string, Labels>();
    let bounded = false;
    const readSets = async (tx: TransactionSql, bound: HorizonBound, deadline: number, selector: LogSelector | null) => {
      const matchers: Matcher[] = selector?.matchers ?? [];
      const scan = this.newestEntries(tx, bound, deadline, { startNs, endNs }, matchers, () => {
        bounded = true;
      });
      for await (const entries of scan) {
        for (const entry of entries) {
          const labels = selector ? runPipeline(selector.stages, entry.labels, entry.line)?.labels : entry.labels;
          if (labels) sets.set(streamKey(labels), labels);
        }
      }
    };
    await this.run(async (tx, bound, deadline) => {
      if (selectors.length === 0) await readSets(tx, bound, deadline, null);
      for (const selector of selectors) await readSets(tx, bound, deadline, selector);
    });
    return { sets: [...sets.values()], bounded };
  }

  /** Loki's metadata body, with a warning when only part of the range was looked at. */
  private metadataBody(data: unknown[], bounded: boolean): unknown {
    return bounded ? { status: 'success', data, warnings: [this.boundWarning()] } : { status: 'success', data };
  }

  private selectorsOf(texts: string[]): LogSelector[] {
    return texts.map((text) => {
      const parsed = parseLogql(text);
      if (parsed.kind !== 'logs')
        throw new QueryRejected(
          `parse error: ${JSON.stringify(text.slice(0, 80))} is a metric query; a log selector such as {app="api"} is expected`,
        );
      return parsed.selector;
    });
  }

  private optionalSelector(query: Query): LogSelector[] {
    const text = param(query, 'query');
    return text === undefined || text.trim() === '' ? [] : this.selectorsOf([text]);
  }

  /** A live tail (tail.ts) of `query` (parameters `query`, `start`, `limit`), not started yet. */
  openTail(query: Query, send: (frame: string) => void): { start(): Promise<void>; stop(): void } {
    const parsed = parseLogql(requireQuery(query));
    if (parsed.kind !== 'logs') throw new QueryRejected('tail needs a log query, not a metric query');
    if (this.tails >= this.limits.maxTails) throw new QueryRejected(`too many live tails on this replica (${this.limits.maxTails})`);
    const now = this.now();
    const startText = param(query, 'start');
    const startNs = startText ? parseTime(startText, 'start') : now - 3_600_000n * NS_PER_MS;
    const tail = new Tail(this.deps.sql, this.deps.horizon, this.limits, {
      selector: parsed.selector,
      startNs,
      limit: parseLimit(query, this.limits),
      send,
      onWake: this.deps.onWake,
    });
    this.tails++;
    let stopped = false;
    return {
      start: () => tail.start(now),
      stop: () => {
        if (stopped) return;
        stopped = true;
        this.tails--;
        tail.stop();
      },
    };
  }

  /** GET /loki/api/v1/labels. */
  async labels(query: Query): Promise<unknown> {
    const names = new Set<string>();
    const { sets, bounded } = await this.labelSets(query, this.optionalSelector(query));
    for (const labels of sets) for (const name of Object.keys(labels)) names.add(name);
    return this.metadataBody([...names].sort(), bounded);
  }

  /** GET /loki/api/v1/label/:name/values. */
  async labelValues(name: string, query: Query): Promise<unknown> {
    const values = new Set<string>();
    const { sets, bounded } = await this.labelSets(query, this.optionalSelector(query));
    for (const labels of sets) if (labels[name] !== undefined) values.add(labels[name]);
    return this.metadataBody([...values].sort(), bounded);
  }

  /** GET /loki/api/v1/series (`match[]`; `match` accepted too). */
  async series(query: Query): Promise<unknown> {
    const raw = [query['match[]'], query.match].flat().filter((v): v is string => typeof v === 'string' && v.trim() !== '');
    if (raw.length === 0) throw new QueryRejected('invalid parameter "match[]": at least one stream selector is required');
    const { sets, bounded } = await this.labelSets(query, this.selectorsOf(raw));
    sets.sort((a, b) => (streamKey(a) < streamKey(b) ? -1 : 1));
    return this.metadataBody(sets, bounded);
  }

  /** GET /loki/api/v1/index/stats: a bare {streams, chunks, entries, bytes}. */
  async indexStats(query: Query): Promise<unknown> {
    const [selector] = this.selectorsOf([requireQuery(query)]);
    const { startNs, endNs } = parseRange(query, this.limits, this.now());
    const streams = new Set<string>();
    let entries = 0;
    let bytes = 0;
    await this.run(async (tx, bound, deadline) => {
      for await (const batch of this.newestEntries(tx, bound, deadline, { startNs, endNs }, selector!.matchers)) {
        for (const entry of batch) {
          streams.add(streamKey(entry.labels));
          entries++;
          bytes += Buffer.byteLength(entry.line);
        }
      }
    });
    return { streams: streams.size, chunks: streams.size, entries, bytes };
  }
}
