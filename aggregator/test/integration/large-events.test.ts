/**
 * Large events cannot exhaust a replica. A real aggregator process serves a topic of 4 MiB
 * events to 8 concurrent GET /events pagers and 8 /subscribe streams while publishing goes on:
 * every reader gets every event exactly once, in order, and the replica's peak RSS (VmHWM) stays
 * under RSS_BOUND_MIB. The figures are printed; docs/BENCHMARKS.md has the full-size run
 * (LARGE_EVENTS=300: the 300 x 4 MiB, several minutes on a 2-core machine, most of it
 * this test's own 16 readers); the suite runs LARGE_EVENTS=16 (1 GiB read in all) to stay well
 * under a minute on a loaded one. Peak RSS hardly depends on the topic's size: it is set by the
 * readers in flight, each bounded by its byte budget.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { errorLines, whileProgressing } from '../support/faults';

const EVENTS = Number(process.env.LARGE_EVENTS ?? 16);
const PAYLOAD_BYTES = 4 * 1024 * 1024;
const READERS = 8;
/** The bound asserted; the pod limit is 512 MiB. Measured peaks are in docs/BENCHMARKS.md. */
const RSS_BOUND_MIB = 400;
/**
 * No time bound on the run itself: it is CPU-bound (1 GiB through one replica and this process)
 * and a starved machine stretches it without limit: 10 s quiet, 170 s at load 9, over the 128 s
 * timeout it had (seen at load 7-12 with the readers still advancing every few seconds). What
 * fails it is a stall: 60 s in which no reader gets a byte and no publish is accepted, where the
 * longest pause seen at load 9-12 was a few seconds (printed with the figures).
 */
const STALL_MS = 60_000;
/** Only a ceiling for a run that keeps trickling: the CI budget of a whole suite (15 min). */
const CEILING_MS = Math.max(900_000, EVENTS * 60_000);

let db: TestDatabase;
let agg: AggregatorProcess;

beforeAll(async () => {
  db = await createTestDatabase('large');
  agg = await spawnAggregator({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' });
  await agg.waitReady();
}, 60_000);

afterAll(async () => {
  agg.kill('SIGTERM');
  await agg.exited;
  await db.drop();
}, 30_000);

// Incompressible padding (PostgreSQL would otherwise compress a repeated character to nothing):
// base64 of pseudo-random bytes, shifted per event so no two payloads are equal.
const noise = (() => {
  let x = 0x9e3779b9;
  const bytes = new Uint8Array((PAYLOAD_BYTES * 3) / 4);
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return Buffer.from(bytes).toString('base64');
})();

function body(i: number): string {
  const head = `{"topic":"big","event_id":"big-${i}","timestamp":"2025-01-31T12:00:00Z","source":"large","payload":{"i":${i},"pad":"`;
  const pad = noise.slice(i % 1000) + noise.slice(0, i % 1000);
  return `${head}${pad.slice(0, PAYLOAD_BYTES - 64)}"}}`;
}

async function publish(from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    for (;;) {
      const response = await fetch(`${agg.url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(i) }).catch(
        (error) => {
          throw new Error(`publish ${i}: ${error}; the aggregator printed:\n${agg.output().slice(-3000)}`);
        },
      );
      if (response.status === 202) {
        progress++;
        break;
      }
      if (response.status !== 429 && response.status !== 503) throw new Error(`publish ${i}: ${response.status} ${await response.text()}`);
      await Bun.sleep(100);
    }
  }
}

/**
 * event_id of an event's JSON: it precedes the payload, so only the head is searched. Rebuilt
 * from the number: a substring would keep its whole 4 MiB page alive (JavaScriptCore shares
 * substrings' storage), which took this test process to gigabytes at 300 events.
 */
const idOf = (json: string) => `big-${Number(/"event_id"\s*:\s*"big-(\d+)"/.exec(json.slice(0, 400))![1])}`;

/** Pages answered 503 or 429 and read again (printed with the figures). */
let retriedReads = 0;
/** Bytes received by every reader plus publishes accepted: what the stall watchdog watches. */
let progress = 0;

async function pager(): Promise<string[]> {
  const ids: string[] = [];
  let after = 0;
  while (ids.length < EVENTS) {
    const response = await fetch(`${agg.url}/events?topic=big&after=${after}&limit=1000`);
    const text = await response.text();
    progress += text.length;
    // An overloaded replica may answer 503 (a read past its statement timeout) or 429: a reader
    // retries those, as any client does; anything else is a failure, shown with its body.
    if (response.status === 503 || response.status === 429) {
      retriedReads++;
      await Bun.sleep(200);
      continue;
    }
    if (response.status !== 200) {
      const errors = errorLines(agg.output()).join('\n').slice(0, 4000);
      throw new Error(`GET /events answered ${response.status}: ${text.slice(0, 500)}; the replica logged:\n${errors}`);
    }
    const next = Number(/"next_after":(\d+)\}$/.exec(text)![1]);
    // Items start at each "seq" key; ids are read from each item's head.
    const items = text.split(/\{"seq"\s*:/).slice(1);
    for (const item of items) ids.push(idOf(item));
    if (items.length === 0) await Bun.sleep(100);
    after = next;
  }
  return ids;
}

/**
 * Cuts an SSE byte stream into messages without holding them: only each message's first bytes
 * (enough for id, event and event_id) are kept and decoded. Returns false from `push` once a
 * message says the stream ends (`event: overflow` or `event: shutdown`).
 */
class SseCutter {
  private head = new Uint8Array(0);
  private endsWithLf = false;
  private readonly decoder = new TextDecoder();

  constructor(private readonly onMessage: (text: string) => boolean) {}

  push(value: Uint8Array): boolean {
    let from = 0;
    if (this.endsWithLf && value[0] === 10) {
      if (!this.end()) return false;
      from = 1;
    }
    for (;;) {
      const lf = value.indexOf(10, from);
      if (lf < 0 || lf === value.length - 1) break;
      if (value[lf + 1] === 10) {
        this.keep(value.subarray(from, lf));
        if (!this.end()) return false;
        from = lf + 2;
      } else {
        this.keep(value.subarray(from, lf + 1));
        from = lf + 1;
      }
    }
    this.keep(value.subarray(from));
    this.endsWithLf = value.length > 0 && value[value.length - 1] === 10;
    return true;
  }

  private end(): boolean {
    const text = this.decoder.decode(this.head);
    this.head = new Uint8Array(0);
    return this.onMessage(text);
  }

  private keep(bytes: Uint8Array): void {
    if (this.head.length >= 400 || bytes.length === 0) return;
    const more = bytes.subarray(0, 400 - this.head.length);
    const joined = new Uint8Array(this.head.length + more.length);
    joined.set(this.head);
    joined.set(more, this.head.length);
    this.head = joined;
  }
}

/**
 * One GET /subscribe over a raw socket, its chunked body decoded as it streams. A fetch body
 * cannot be used here: Bun's client reads the socket eagerly and buffered gigabytes of stream
 * this process had not consumed yet (the server is pull-driven; a raw socket keeps that honest).
 * Resolves with the last id seen when the stream ends or `done()` says enough.
 */
function subscribeOnce(lastId: string, onMessage: (text: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(agg.port, '127.0.0.1');
    socket.write(`GET /subscribe?topic=big HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nLast-Event-ID: ${lastId}\r\n\r\n`);
    const cutter = new SseCutter(onMessage);
    let headers: Buffer | null = Buffer.alloc(0);
    // Chunked framing: a hex size line, that many bytes, CRLF.
    let sizeLine = '';
    let remaining = 0;
    let skip = 0;
    const finish = () => {
      socket.destroy();
      resolve();
    };
    socket.on('data', (bytes: Buffer) => {
      progress += bytes.length;
      let data: Buffer = bytes;
      if (headers !== null) {
        headers = Buffer.concat([headers, data]);
        const end = headers.indexOf('\r\n\r\n');
        if (end < 0) return;
        data = headers.subarray(end + 4);
        headers = null;
      }
      let i = 0;
      while (i < data.length) {
        if (skip > 0) {
          const n = Math.min(skip, data.length - i);
          skip -= n;
          i += n;
        } else if (remaining > 0) {
          const n = Math.min(remaining, data.length - i);
          if (!cutter.push(data.subarray(i, i + n))) return finish();
          remaining -= n;
          i += n;
          if (remaining === 0) skip = 2;
        } else {
          const lf = data.indexOf(10, i);
          if (lf < 0) {
            sizeLine += data.subarray(i).toString('latin1');
            break;
          }
          sizeLine += data.subarray(i, lf).toString('latin1');
          i = lf + 1;
          remaining = Number.parseInt(sizeLine.trim(), 16);
          sizeLine = '';
          if (remaining === 0) return finish();
        }
      }
    });
    socket.on('error', reject);
    socket.on('close', resolve);
  });
}

/** An EventSource in effect: after `event: overflow` or `event: shutdown` it resumes with Last-Event-ID. */
async function subscriber(): Promise<string[]> {
  const ids: string[] = [];
  let lastId = '0';
  while (ids.length < EVENTS) {
    await subscribeOnce(lastId, (text) => {
      if (text.startsWith('event: ')) return false;
      const id = /^id: (\d+)$/m.exec(text);
      const data = text.indexOf('data: ');
      if (data >= 0) ids.push(idOf(text.slice(data + 6)));
      if (id) lastId = id[1]!;
      return ids.length < EVENTS;
    });
  }
  return ids;
}

const statusOf = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

test(
  `${EVENTS} events of 4 MiB: 8 pagers and 8 subscribers each get every event once, in order, within ${RSS_BOUND_MIB} MiB RSS`,
  async () => {
    const started = performance.now();
    const baseline = statusOf(agg.pid, 'VmRSS');
    // This process reads READERS x 2 x the topic; JavaScriptCore sizes its heap by the machine's
    // RAM and let the dead pages reach gigabytes at 300 events, so collect as we go.
    const collector = setInterval(() => Bun.gc(true), 1_000);
    let done = 0;
    const run = async () => {
      await publish(0, EVENTS / 2);
      const readers = [...Array.from({ length: READERS }, pager), ...Array.from({ length: READERS }, subscriber)];
      for (const reader of readers) void reader.then(() => done++);
      await publish(EVENTS / 2, EVENTS); // publishing continues while they read
      return Promise.all(readers);
    };
    const { result: results, longestStillMs } = await whileProgressing(
      'publishing and reading',
      run(),
      () => progress,
      STALL_MS,
      () => `${progress} bytes read; ${done} of ${2 * READERS} readers done; ${retriedReads} pages read again`,
    ).finally(() => clearInterval(collector));
    const peak = statusOf(agg.pid, 'VmHWM');
    const expected = Array.from({ length: EVENTS }, (_, i) => `big-${i}`);
    for (const ids of results) expect(ids).toEqual(expected);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `large events: ${EVENTS} x 4 MiB, ${READERS} pagers + ${READERS} subscribers, ${seconds.toFixed(1)} s; replica RSS at start ${baseline.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB (bound ${RSS_BOUND_MIB} MiB); pages read again after a 503/429: ${retriedReads}; longest pause in progress ${(longestStillMs / 1000).toFixed(1)} s`,
    );
    expect(peak).toBeLessThan(RSS_BOUND_MIB);
  },
  CEILING_MS,
);
