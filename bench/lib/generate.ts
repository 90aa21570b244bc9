/**
 * The one event generator every scenario uses, so the raw-SQL ceilings and the HTTP runs move the
 * same bytes. A pool ("lap") of batches is rendered once before a run; a run that needs more
 * requests than the pool holds starts another lap whose event ids carry the lap number, so the
 * duplicate rate stays exact per lap and rendering costs nothing while the clock runs.
 *
 * Within a lap, exactly round(events x dupRate) slots re-send an earlier event of the same lap
 * byte for byte (selection sampling, Knuth's algorithm S, as the publisher does), so the unique
 * count of any prefix of requests is known exactly.
 */
// The publisher's PRNG, so a seed replays the same pool.
import { mulberry32 } from '../../publisher/src/prng.ts';

export interface PoolOptions {
  /** Batches (requests) per lap. */
  batches: number;
  /** Events per batch. */
  batchSize: number;
  dupRate: number;
  topics: number;
  seed: number;
}

/** One batch as column arrays, for the raw-SQL clients (`unnest`). */
export interface Columns {
  topic: string[];
  event_id: string[];
  timestamp: string[];
  source: string[];
  payload: string[];
}

// Replaced by the lap number; cannot occur in a rendered event (ids are hex + digits).
const LAP = '~LAP~';
const LEVELS = ['debug', 'info', 'info', 'info', 'warn', 'error'];
const MESSAGES = ['request served', 'cache miss', 'job finished', 'retrying upstream', 'slow query'];
const EPOCH_MS = Date.UTC(2025, 0, 1);

/** Topic names shared by the generator and the scale scenario's bulk load. */
export function topicNames(count: number): string[] {
  return Array.from({ length: count }, (_, k) => `topic-${k}`);
}

interface Unique {
  topic: string;
  id: string;
  timestamp: string;
  source: string;
  payload: string;
}

function renderUnique(j: number, tag: string, topics: string[], rnd: () => number): Unique {
  return {
    topic: topics[Math.floor(rnd() * topics.length)]!,
    id: `${tag}-${LAP}-${j}`,
    timestamp: new Date(EPOCH_MS + j).toISOString(),
    source: `publisher-${Math.floor(rnd() * 4)}`,
    payload: JSON.stringify({
      seq: j,
      level: LEVELS[Math.floor(rnd() * LEVELS.length)],
      message: MESSAGES[Math.floor(rnd() * MESSAGES.length)],
      latency_ms: Math.floor(rnd() * 2000),
      user: `u-${Math.floor(rnd() * 10_000)}`,
    }),
  };
}

const toJson = (e: Unique) =>
  `{"topic":"${e.topic}","event_id":"${e.id}","timestamp":"${e.timestamp}","source":"${e.source}","payload":${e.payload}}`;

/** A pre-rendered lap of batches; `body(i)` / `columns(i)` give request i of a run (any lap). */
export class BatchPool {
  readonly batches: number;
  readonly batchSize: number;
  /** Unique events in each batch (the rest are duplicates). */
  private readonly uniquePerBatch: number[];
  /** Each body split at the lap marker, joined with the lap number on use. */
  private readonly bodyParts: string[][];
  private readonly cols: { events: Unique[] }[];

  constructor(options: PoolOptions) {
    const { batches, batchSize, dupRate, seed } = options;
    const topics = topicNames(options.topics);
    const total = batches * batchSize;
    let dupsLeft = Math.round(total * dupRate);
    if (dupsLeft >= total) throw new RangeError(`dupRate ${dupRate} leaves no unique event`);
    const rnd = mulberry32(seed);
    const tag = (seed >>> 0).toString(16).padStart(8, '0');
    const uniques: Unique[] = [];
    this.batches = batches;
    this.batchSize = batchSize;
    this.uniquePerBatch = [];
    this.bodyParts = [];
    this.cols = [];
    for (let b = 0; b < batches; b++) {
      const events: Unique[] = [];
      let fresh = 0;
      for (let k = 0; k < batchSize; k++) {
        const slot = b * batchSize + k;
        if (slot > 0 && rnd() * (total - slot) < dupsLeft) {
          dupsLeft--;
          events.push(uniques[Math.floor(rnd() * uniques.length)]!);
        } else {
          const event = renderUnique(uniques.length, tag, topics, rnd);
          uniques.push(event);
          events.push(event);
          fresh++;
        }
      }
      this.uniquePerBatch.push(fresh);
      this.bodyParts.push(`[${events.map(toJson).join(',')}]`.split(LAP));
      this.cols.push({ events });
    }
  }

  /** Events per lap. */
  get eventsPerLap(): number {
    return this.batches * this.batchSize;
  }

  /** JSON array body of request i. */
  body(i: number): string {
    return this.bodyParts[i % this.batches]!.join(String(Math.floor(i / this.batches)));
  }

  /** Column arrays of request i. */
  columns(i: number): Columns {
    const lap = String(Math.floor(i / this.batches));
    const events = this.cols[i % this.batches]!.events;
    return {
      topic: events.map((e) => e.topic),
      event_id: events.map((e) => e.id.replace(LAP, lap)),
      timestamp: events.map((e) => e.timestamp),
      source: events.map((e) => e.source),
      payload: events.map((e) => e.payload),
    };
  }

  /** Unique events among requests 0..count-1: exact, whatever the lap. */
  uniqueInFirst(count: number): number {
    const laps = Math.floor(count / this.batches);
    let unique = 0;
    if (laps > 0) unique += laps * this.uniquePerBatch.reduce((a, b) => a + b, 0);
    for (let b = 0; b < count % this.batches; b++) unique += this.uniquePerBatch[b]!;
    return unique;
  }
}
