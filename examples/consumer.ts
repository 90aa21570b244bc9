/**
 * A reliable logbus consumer (docs/CONSUMERS.md): follows topics over GET /subscribe, hands every
 * event to a handler, and survives aggregator restarts, drains and its own crashes without gaps.
 *
 *   bun examples/consumer.ts --url http://127.0.0.1:8080 --topic orders --topic payments \
 *     --out events.ndjson --state consumer-state.json [--from start|end] [--token T]
 *
 * - Position: the last seq handled per topic. An SSE message's `id:` is its seq; the stream's
 *   first message is `id: <start>` with no data, so even a quiet topic has a position.
 * - Resume: every (re)connect sends `Last-Event-ID: <position>`, on any replica. seq increases
 *   strictly within a topic and a reader never sees a later event before an earlier one, so
 *   "everything after my position" is exactly what is missing.
 * - At-least-once on this side: the handler runs first, the checkpoint is saved after it. A crash
 *   between the two replays the events since the last checkpoint; the handler must tolerate that
 *   (here: lines carry `topic` and `event_id`, so a reader of the file can drop repeats).
 * - `event: expired`: the events after the position were removed by retention before this
 *   consumer read them. Reported on stderr (and counted); the stream continues with the oldest
 *   kept event. `--on-expired fail` exits 3 instead, for consumers that must not go on silently.
 * - `event: shutdown` / `event: overflow`, a dropped connection, 429/503: reconnect with backoff
 *   (Retry-After honoured). 400/401/403/404: configuration errors, exit 2.
 *
 * Plain fetch, no dependencies: it runs under Bun (as here), Deno or Node.js ≥ 22.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export interface ConsumerOptions {
  url: string;
  topics: string[];
  token?: string;
  /** Where to begin a topic with no checkpoint: its first kept event, or its current end. */
  from: 'start' | 'end';
  onExpired: 'continue' | 'fail';
}

/** One SSE message as the stream delivers it (RFC: fields `event`, `id`, `data`). */
interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

/** Positions per topic, saved atomically (write a temporary file, fsync, rename). */
export class FileCheckpoint {
  private positions: Record<string, number> = {};

  constructor(private readonly path: string) {
    if (existsSync(path)) this.positions = JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>;
  }

  get(topic: string): number | undefined {
    return this.positions[topic];
  }

  save(topic: string, seq: number): void {
    this.positions[topic] = seq;
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, 'w');
    writeFileSync(fd, JSON.stringify(this.positions));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temporary, this.path);
  }
}

/** The application's side: here, append each event as one NDJSON line and fsync. */
export function ndjsonHandler(path: string): (topic: string, events: string[]) => void {
  return (_topic, events) => {
    const fd = openSync(path, 'a');
    appendFileSync(fd, events.map((data) => `${data}\n`).join(''));
    fsyncSync(fd);
    closeSync(fd);
  };
}

class FatalError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const log = (fields: Record<string, unknown>) => console.error(JSON.stringify({ time: new Date().toISOString(), ...fields }));

/** Splits a byte stream into SSE messages (comments and `retry:` ignored). */
async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let message: SseMessage = { event: 'message', data: '' };
  let hasData = false;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (hasData || message.id !== undefined) yield message;
        message = { event: 'message', data: '' };
        hasData = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') message.event = value;
      else if (field === 'id') message.id = value;
      else if (field === 'data') {
        message.data = hasData ? `${message.data}\n${value}` : value;
        hasData = true;
      }
    }
  }
}

/**
 * Follows one topic until `signal` aborts: connect, hand events over, checkpoint, reconnect.
 * Events arriving together are handled as one batch, then checkpointed once.
 */
export async function followTopic(
  options: ConsumerOptions,
  topic: string,
  checkpoint: FileCheckpoint,
  handle: (topic: string, events: string[]) => void,
  signal: AbortSignal,
): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    const position = checkpoint.get(topic);
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (position !== undefined) headers['last-event-id'] = String(position);
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const query = position === undefined && options.from === 'start' ? '&after=0' : '';
    let waitMs = Math.min(5_000, 100 * 2 ** failures) * (0.5 + Math.random() / 2);
    try {
      const response = await fetch(`${options.url}/subscribe?topic=${encodeURIComponent(topic)}${query}`, { headers, signal });
      if ([400, 401, 403, 404].includes(response.status)) {
        throw new FatalError(`GET /subscribe answered ${response.status}: ${await response.text()}`, 2);
      }
      if (response.status !== 200 || !response.body) {
        const retryAfter = Number(response.headers.get('retry-after'));
        if (retryAfter > 0) waitMs = retryAfter * 1000;
        await response.body?.cancel();
        throw new Error(`GET /subscribe answered ${response.status}`);
      }
      log({ msg: 'connected', topic, after: position ?? (options.from === 'start' ? 0 : 'end') });
      failures = 0;
      let batch: string[] = [];
      let last: number | undefined;
      let scheduled: ReturnType<typeof setTimeout> | undefined;
      const flush = () => {
        clearTimeout(scheduled);
        scheduled = undefined;
        if (batch.length) handle(topic, batch);
        if (last !== undefined && last !== checkpoint.get(topic)) checkpoint.save(topic, last);
        batch = [];
      };
      for await (const message of sseMessages(response.body)) {
        if (message.event === 'expired') {
          const gap = JSON.parse(message.data) as { expired_through: number; first_available: number | null };
          log({ msg: 'events expired before this consumer read them', topic, ...gap });
          if (options.onExpired === 'fail') throw new FatalError(`topic ${topic}: events through seq ${gap.expired_through} expired unread`, 3);
          continue;
        }
        if (message.event === 'shutdown' || message.event === 'overflow') {
          log({ msg: `stream ended: ${message.event}`, topic });
          break;
        }
        if (message.data) batch.push(message.data);
        if (message.id !== undefined) last = Number(message.id);
        // Hand over what arrived together (flushed once the stream has nothing more buffered, or
        // at 500 events); the checkpoint is saved after the handler returns, never before.
        if (batch.length >= 500) flush();
        else scheduled ??= setTimeout(flush, 0);
      }
      flush();
    } catch (error) {
      if (error instanceof FatalError) throw error;
      if (signal.aborted) return;
      failures++;
      log({ msg: 'disconnected; reconnecting', topic, error: String((error as Error).message ?? error), wait_ms: Math.round(waitMs) });
    }
    if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', default: process.env.LOGBUS_URL ?? 'http://127.0.0.1:8080' },
      topic: { type: 'string', multiple: true },
      token: { type: 'string', default: process.env.LOGBUS_TOKEN },
      from: { type: 'string', default: 'start' },
      out: { type: 'string', default: 'events.ndjson' },
      state: { type: 'string', default: 'consumer-state.json' },
      'on-expired': { type: 'string', default: 'continue' },
    },
  });
  if (!values.topic?.length) throw new FatalError('give at least one --topic', 2);
  if (values.from !== 'start' && values.from !== 'end') throw new FatalError('--from is start or end', 2);
  if (values['on-expired'] !== 'continue' && values['on-expired'] !== 'fail') throw new FatalError('--on-expired is continue or fail', 2);
  const options: ConsumerOptions = {
    url: values.url.replace(/\/$/, ''),
    topics: values.topic,
    token: values.token,
    from: values.from,
    onExpired: values['on-expired'],
  };
  return { options, out: values.out, state: values.state };
}

async function main(): Promise<number> {
  const { options, out, state } = parseOptions(process.argv.slice(2));
  const checkpoint = new FileCheckpoint(state);
  const handle = ndjsonHandler(out);
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop.abort());
  // One stream per topic: topics are independent, each with its own position.
  await Promise.all(options.topics.map((topic) => followTopic(options, topic, checkpoint, handle, stop.signal)));
  log({ msg: 'stopped', positions: Object.fromEntries(options.topics.map((t) => [t, checkpoint.get(t) ?? null])) });
  return 0;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      log({ msg: 'fatal', error: String(error.message ?? error) });
      process.exit(error instanceof FatalError ? error.exitCode : 1);
    },
  );
}
