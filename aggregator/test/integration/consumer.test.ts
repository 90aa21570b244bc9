/**
 * The example consumer (examples/consumer.ts, docs/CONSUMERS.md) as a real process against real
 * aggregator processes: while events are published to two topics, the aggregator is drained
 * (SIGTERM: `event: shutdown`), then killed (SIGKILL: the connection just drops) and started
 * again on the same port, and the consumer itself is killed and started again from its
 * checkpoint. In the end its output holds every stored event of both topics, in seq order per
 * topic, with no gap; repeats appear only after the consumer's own crash (at-least-once), and none
 * while only the aggregator restarted.
 */
import { afterAll, expect, test } from 'bun:test';
import { type Subprocess, spawn } from 'bun';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { createTestDatabase } from '../../local/postgres';
import { type AggregatorProcess, spawnAggregator } from '../../local/process';
import { waitDrained, waitFor, workload } from '../support/faults';
import { RetryingClient } from '../support/retrying-client';

const CONSUMER = resolve(import.meta.dir, '../../../examples/consumer.ts');
const TOPICS = ['cons-0', 'cons-1'];
const folder = mkdtempSync(join(tmpdir(), 'logbus-consumer-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

interface Line {
  seq: number;
  topic: string;
  event_id: string;
}

interface Consumer {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  /** What it logged on stderr (one JSON object per line). */
  output: () => string;
}

function startConsumer(url: string): Consumer {
  const args = ['--url', url, '--out', join(folder, 'out.ndjson'), '--state', join(folder, 'state.json'), '--from', 'start'];
  for (const topic of TOPICS) args.push('--topic', topic);
  const proc = spawn([process.execPath, CONSUMER, ...args], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  let output = '';
  void (async () => {
    for await (const chunk of proc.stderr) output += new TextDecoder().decode(chunk);
  })();
  return { proc, output: () => output };
}

function readLines(): Line[] {
  let text = '';
  try {
    text = readFileSync(join(folder, 'out.ndjson'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Line);
}

/** True when, per topic, seqs only increase (no repeat, no step back). */
function strictlyIncreasing(lines: Line[]): boolean {
  const last = new Map<string, number>();
  for (const line of lines) {
    if ((last.get(line.topic) ?? 0) >= line.seq) return false;
    last.set(line.topic, line.seq);
  }
  return true;
}

test('the example consumer survives aggregator drains, crashes and its own crash without a gap', async () => {
  const db = await createTestDatabase('consumer');
  const env = { DATABASE_URL: db.url, DRAIN_TIMEOUT_MS: '3000', LOG_LEVEL: 'warn' };
  let aggregator: AggregatorProcess = await spawnAggregator(env);
  await aggregator.waitReady();
  const port = aggregator.port;
  const url = aggregator.url;
  const client = new RetryingClient(() => [url], { maxDelayMs: 200 });
  const { events } = workload(6000, 0.2, TOPICS.length, 'cons');

  // Publishes in the background, batch by batch, through every restart (the client retries).
  let sent = 0;
  const publishing = (async () => {
    for (; sent < events.length; sent += 100) {
      await client.publish(events.slice(sent, sent + 100));
      await Bun.sleep(5);
    }
  })();
  const progress = (share: number) => waitFor(`${share * 100}% published`, () => sent >= events.length * share, 120_000);
  let consumer = startConsumer(url);
  const consumed = (count: number) => waitFor(`the consumer to write ${count} lines`, () => readLines().length >= count, 120_000);

  try {
    // 1. A drain: the stream ends with `event: shutdown`, the consumer reconnects to the new process.
    await progress(0.2);
    await consumed(1);
    aggregator.kill('SIGTERM');
    expect(await aggregator.exited).toBe(0);
    aggregator = await spawnAggregator(env, port);
    await aggregator.waitReady();

    // 2. A crash: the connection drops without a word.
    await progress(0.45);
    aggregator.kill('SIGKILL');
    await aggregator.exited;
    aggregator = await spawnAggregator(env, port);
    await aggregator.waitReady();

    // Up to here only the aggregator restarted: the consumer's output has no repeat and no gap yet.
    await progress(0.6);
    const beforeOwnCrash = readLines();
    expect(beforeOwnCrash.length).toBeGreaterThan(0);
    expect(strictlyIncreasing(beforeOwnCrash)).toBe(true);

    // 3. The consumer's own crash: it resumes from its checkpoint (repeats allowed, gaps not).
    consumer.proc.kill('SIGKILL');
    await consumer.proc.exited;
    const firstConsumerLog = consumer.output();
    consumer = startConsumer(url);

    await publishing;
    const stats = await waitDrained(url, 60_000);
    expect(stats.pending).toBe(0);

    // What the database holds, per topic in seq order: the truth the output must match.
    const sql = postgres(db.url, { max: 1 });
    const stored = await sql<Line[]>`SELECT seq::int8::float8 AS seq, topic, event_id FROM events WHERE topic IN ${sql(TOPICS)} ORDER BY seq`;
    await sql.end();
    expect(stored.length).toBe(stats.unique_processed);
    await consumed(stored.length);
    await waitFor(
      'the consumer to catch up',
      () => {
        const seen = new Set(readLines().map((l) => `${l.topic}\u0000${l.event_id}`));
        return stored.every((s) => seen.has(`${s.topic}\u0000${s.event_id}`));
      },
      60_000,
    );

    const lines = readLines();
    // The first consumer saw both kinds of end while connected (the drain's `event: shutdown`, the
    // crash's dropped connection), and the second one resumed from a checkpoint, not from the start.
    expect(firstConsumerLog).toContain('"msg":"stream ended: shutdown"');
    expect(firstConsumerLog).toContain('"msg":"disconnected; reconnecting"');
    expect(consumer.output()).toMatch(/"msg":"connected","topic":"cons-0","after":[1-9]/);
    // Every stored event is in the output; removing repeats (keep the first) leaves exactly the
    // stored events, in seq order per topic.
    const firstSeen = new Map<number, Line>();
    for (const line of lines) if (!firstSeen.has(line.seq)) firstSeen.set(line.seq, line);
    const deduplicated = [...firstSeen.values()];
    for (const topic of TOPICS) {
      const want = stored.filter((s) => s.topic === topic).map((s) => `${s.seq}:${s.event_id}`);
      const got = deduplicated.filter((l) => l.topic === topic).map((l) => `${l.seq}:${l.event_id}`);
      expect(got).toEqual(want);
    }
    expect(strictlyIncreasing(deduplicated)).toBe(true);
  } finally {
    consumer.proc.kill('SIGTERM');
    await consumer.proc.exited;
    aggregator.kill('SIGTERM');
    await aggregator.exited;
    await db.drop();
  }
}, 240_000);
