/**
 * Live tailing (`/loki/api/v1/tail`, what Grafana's Live button opens): first the newest `limit`
 * entries of the last hour (or since `start`), oldest first, then every new event that passes
 * the query, as Loki's frames `{"streams":[{"stream":{...},"values":[["<ns>","line"]]}]}`.
 *
 * New events are followed by seq below the read horizon (events/horizon.ts), not by time: a
 * shipper may send old timestamps, and below the horizon no event can appear any more, so a
 * follower that moves its cursor to the horizon never misses one nor sends one twice. The first
 * read stops at the horizon it starts from, and following starts there.
 *
 * When: on every wake-up the replica gets for newly applied events of the tail's topics (the
 * notifier /subscribe uses: a local commit or another replica's NOTIFY), and every
 * `tailPollMs` in case one was lost. One read runs at a time; a wake-up during it runs one more.
 */
import type { Sql } from '../db/client';
import type { HorizonBound, ReadHorizon } from '../events/horizon';
import { horizonCte } from '../events/horizon';
import { topicSlotOf } from '../db/partition';
import { streamKey, toEntry } from './entry';
import type { LogSelector } from './logql/ast';
import type { QueryLimits } from './limits';
import { runLogQuery, type StreamResult } from './log-query';
import { runPipeline } from './pipeline';
import { candidateTopics, inQueryTransaction, type ScannedRow } from './scan';

export interface TailOptions {
  selector: LogSelector;
  startNs: bigint;
  limit: number;
  send(frame: string): void;
  /** The replica's wake-ups for new applied events (subscribe/hub.ts onWake). */
  onWake?: (listener: (slots: readonly number[] | null) => void) => () => void;
}

const FOLLOW_ROWS = 1000;

async function horizonNow(sql: Sql, bound: HorizonBound): Promise<bigint> {
  const [row] = await sql<{ h: string }[]>`WITH ${horizonCte(sql, bound)} SELECT h::text AS h FROM horizon`;
  return BigInt(row!.h);
}

const frame = (streams: StreamResult[]) => JSON.stringify({ streams, dropped_entries: null });

/** One tail: call start(), then stop() when the socket closes. */
export class Tail {
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private cursor = 0n;
  private following: Promise<void> | null = null;
  private again = false;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly horizon: ReadHorizon,
    private readonly limits: QueryLimits,
    private readonly options: TailOptions,
  ) {}

  async start(nowNs: bigint): Promise<void> {
    const bound = await this.horizon.current();
    this.cursor = await horizonNow(this.sql, bound);
    const streams = await inQueryTransaction(this.sql, this.limits.timeoutMs, (tx) =>
      runLogQuery(
        tx,
        bound,
        this.options.selector,
        {
          startNs: this.options.startNs,
          endNs: nowNs + 1n,
          limit: this.options.limit,
          direction: 'backward',
          categorizeLabels: false,
          deadline: Date.now() + this.limits.timeoutMs,
          belowSeq: this.cursor,
        },
        this.limits,
      ),
    );
    for (const stream of streams) stream.values.reverse();
    if (streams.length > 0 && !this.stopped) this.options.send(frame(streams));
    // Only an exact topic narrows the wake-ups; a regex may match topics created later.
    const topic = this.options.selector.matchers.find((m) => m.name === 'topic' && m.op === '=')?.value;
    const slot = topic === undefined ? null : topicSlotOf(topic);
    this.unsubscribe =
      this.options.onWake?.((slots) => {
        if (slot === null || slots === null || slots.includes(slot)) this.followNow();
      }) ?? null;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.unsubscribe?.();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.followNow(), this.limits.tailPollMs);
  }

  /** Follows now, or once more after the read in progress; the safety poll restarts after it. */
  private followNow(): void {
    if (this.stopped) return;
    if (this.following) {
      this.again = true;
      return;
    }
    this.again = false;
    // A failed read (database away) is retried at the next wake-up or poll.
    this.following = this.follow()
      .catch(() => {})
      .finally(() => {
        this.following = null;
        if (this.again) this.followNow();
        else this.schedule();
      });
  }

  /** Sends every event between the cursor and the current horizon that passes the query. */
  private async follow(): Promise<void> {
    const bound = await this.horizon.current();
    // Always by topic, so every read is a probe of the (topic, seq) index.
    const topics =
      (await candidateTopics(this.sql, this.options.selector.matchers)) ??
      (await this.sql<{ name: string }[]>`SELECT name FROM topics`).map((t) => t.name);
    if (topics.length === 0) return;
    for (;;) {
      const rows = await this.sql<ScannedRow[]>`
        WITH ${horizonCte(this.sql, bound)}
        SELECT topic, seq::text AS seq, source, payload::text AS payload,
          (extract(epoch FROM "timestamp") * 1000000)::int8::text AS micros
        FROM events
        WHERE seq >= ${this.cursor.toString()}::int8 AND seq < (SELECT h FROM horizon)
          AND topic = ANY(${topics}::text[])
        ORDER BY seq
        LIMIT ${FOLLOW_ROWS}`;
      if (this.stopped) return;
      if (rows.length === 0) return;
      const streams = new Map<string, StreamResult>();
      for (const row of rows) {
        const entry = toEntry(row);
        if (!this.options.selector.matchers.every((m) => m.test(entry.labels[m.name] ?? ''))) continue;
        const processed = runPipeline(this.options.selector.stages, entry.labels, entry.line);
        if (processed === null) continue;
        const key = streamKey(processed.labels);
        let stream = streams.get(key);
        if (!stream) streams.set(key, (stream = { stream: processed.labels, values: [] }));
        stream.values.push([entry.ns, processed.line]);
      }
      if (streams.size > 0) this.options.send(frame([...streams.values()]));
      this.cursor = BigInt(rows.at(-1)!.seq) + 1n;
      if (rows.length < FOLLOW_ROWS) return;
    }
  }
}
