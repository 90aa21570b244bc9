/**
 * One subscriber's Server-Sent Events stream.
 *
 * The database is the buffer. The stream is pull-driven: Bun's HTTP server asks for the next
 * chunk only when the socket has room, and only then does the subscription read the next page
 * (`seq > cursor`) and hand it over. A reader that stops reading costs one page of memory and the
 * kernel's socket buffers, never a queue that grows with the topic.
 *
 * Slow readers: a subscription is *behind* while events are waiting for it and the client is not
 * taking data. Once it has been behind for `slowMs` in total since it was last caught up (and the
 * hub has checked that the topic really holds events past the cursor), it gets `event: overflow`
 * and the stream ends; the client reconnects with Last-Event-ID and goes on from its last id. A
 * reader that keeps pace never accrues time (each read reaches the head).
 */
import { noteBytesMoved } from '../ops/gc-pacer';
import type { EventRow, EventRows } from './read';

export interface StreamOptions {
  /** Events per read and per chunk handed to the socket. */
  pageSize: number;
  /** Payload bytes per read (SUBSCRIBE_READ_BYTES); a read holds at least one event. */
  readBytes: number;
  /** A `: ping` comment after this long without output, so proxies keep the connection. */
  heartbeatMs: number;
  /** Time behind (see above) before the stream ends with `event: overflow`. */
  slowMs: number;
  /** Reconnection delay suggested to EventSource clients (`retry:`). */
  retryMs: number;
}

/** Why a stream ended from our side: the client was too slow, or this replica is draining. */
export type EndReason = 'overflow' | 'shutdown';

/** Reads the next events of the subscribed topic after a seq. */
export type ReadAfter = (after: number, limit: number, maxBytes: number) => Promise<EventRows>;

const encoder = new TextEncoder();

/** One SSE message for a stored event. JSON may hold line breaks only as whitespace; each line gets its own `data:`. */
export function formatEvent(row: { seq: number; json: string }): string {
  const data = /[\r\n]/.test(row.json) ? row.json.replace(/\r\n|\r|\n/g, '\ndata: ') : row.json;
  return `id: ${row.seq}\ndata: ${data}\n\n`;
}

const LF = 10;
const CR = 13;

/** The SSE messages of a read as one chunk, copying each event's bytes once. */
export function encodeEvents(rows: readonly EventRow[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const row of rows) {
    const json = row.json;
    if (typeof json === 'string' || json.indexOf(LF) >= 0 || json.indexOf(CR) >= 0) {
      // Line breaks (whitespace a producer sent inside its payload) need the string path.
      const text = typeof json === 'string' ? json : Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
      parts.push(encoder.encode(formatEvent({ seq: row.seq, json: text })));
      continue;
    }
    parts.push(encoder.encode(`id: ${row.seq}\ndata: `), json, encoder.encode('\n\n'));
  }
  return Buffer.concat(parts);
}

// After a failed read (database away), try again after this long; heartbeats go on meanwhile.
const READ_RETRY_MS = 1_000;

export class Subscription {
  readonly stream: ReadableStream<Uint8Array>;
  /** Seq of the last event handed to the client (or where it asked to start). */
  private cursor: number;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Events may exist beyond the cursor: a wake-up came, or the last page was full. */
  private pending = true;
  private ended = false;
  private inPull = false;
  private waiter: (() => void) | null = null;
  private lastOutputAt = Date.now();
  /** Behind time accrued since last caught up, and the start of the current stretch. */
  private behindMs = 0;
  private behindSince: number | null = null;

  constructor(
    readonly topic: string,
    after: number,
    private readonly read: ReadAfter,
    private readonly options: StreamOptions,
    private readonly onEnd: (subscription: Subscription, reason: EndReason | 'cancelled') => void,
    private readonly onReadError: (error: unknown) => void = () => {},
    /** SSE text sent right after the opening `retry:`/`id:` (the `event: expired` notice). */
    preamble = '',
  ) {
    this.cursor = after;
    this.stream = new ReadableStream<Uint8Array>(
      {
        // `id:` without data sets the client's last event id without dispatching an event, so an
        // EventSource that reconnects before any event arrived resumes from here, not from the head.
        start: (controller) => {
          this.controller = controller;
          controller.enqueue(encoder.encode(`retry: ${options.retryMs}\nid: ${after}\n\n${preamble}`));
        },
        pull: () => this.pull(),
        cancel: () => this.finish('cancelled'),
      },
      // Nothing is read ahead of demand: the next page is fetched when the socket asks for it.
      { highWaterMark: 0 },
    );
  }

  /** The last seq sent. */
  get lastEventId(): number {
    return this.cursor;
  }

  /** New events of this topic may exist (a commit here, a NOTIFY, or the sweep). */
  wake(): void {
    if (this.ended) return;
    this.pending = true;
    if (!this.inPull && this.behindSince === null) this.behindSince = Date.now();
    this.waiter?.();
  }

  /**
   * How long the client has been behind, in total since it last caught up: time in which it
   * did not ask for data while events may have been waiting (a wake-up came, or the last page
   * was full). "May": the hub confirms against the topic's head before acting on it.
   */
  behindFor(now = Date.now()): number {
    if (this.ended || this.inPull || this.behindSince === null) return 0;
    return this.behindMs + (now - this.behindSince);
  }

  /** The hub found nothing beyond the cursor: the client is idle, not behind. */
  notBehind(): void {
    this.behindMs = 0;
    this.behindSince = null;
  }

  /** Ends the stream for a client that stayed behind (the hub confirmed events were waiting). */
  overflow(behindMs: number): void {
    this.end('overflow', `subscriber too slow: events waited ${Math.round(behindMs)} ms for it to read; resume with Last-Event-ID`);
  }

  /** Ends the stream from our side with a final `event: <reason>` (no id: the last id stays). */
  end(reason: EndReason, message: string): void {
    if (this.ended) return;
    const data = JSON.stringify({ reason: message, last_event_id: this.cursor });
    try {
      this.controller.enqueue(encoder.encode(`event: ${reason}\ndata: ${data}\n\n`));
      this.controller.close();
    } catch {
      // The client went away in the same instant; cancel() finishes it.
    }
    this.finish(reason);
  }

  private finish(reason: EndReason | 'cancelled'): void {
    if (this.ended) return;
    this.ended = true;
    this.waiter?.();
    this.onEnd(this, reason);
  }

  private async pull(): Promise<void> {
    this.inPull = true;
    if (this.behindSince !== null) {
      this.behindMs += Date.now() - this.behindSince;
      this.behindSince = null;
    }
    try {
      await this.produce();
    } finally {
      this.inPull = false;
      // More is known to be waiting: the client is behind until it asks again.
      if (this.pending && !this.ended) this.behindSince = Date.now();
    }
  }

  /** Enqueues one chunk: a page of events, or a heartbeat when nothing came for a while. */
  private async produce(): Promise<void> {
    for (;;) {
      if (this.ended) return;
      if (!this.pending) {
        this.behindMs = 0;
        const untilHeartbeat = this.lastOutputAt + this.options.heartbeatMs - Date.now();
        if (untilHeartbeat <= 0) return this.send(': ping\n\n');
        await this.waitForWake(untilHeartbeat);
        continue;
      }
      this.pending = false;
      let rows: EventRow[];
      let full: boolean;
      try {
        ({ rows, full } = await this.read(this.cursor, this.options.pageSize, this.options.readBytes));
      } catch (error) {
        this.onReadError(error);
        this.pending = true;
        if (Date.now() - this.lastOutputAt >= this.options.heartbeatMs) return this.send(': ping\n\n');
        await this.sleep(READ_RETRY_MS);
        continue;
      }
      if (this.ended) return;
      if (full) this.pending = true;
      else this.behindMs = 0; // reached the head: caught up
      if (rows.length === 0) continue;
      this.cursor = rows[rows.length - 1]!.seq;
      return this.sendBytes(encodeEvents(rows));
    }
  }

  private send(text: string): void {
    this.sendBytes(encoder.encode(text));
  }

  private sendBytes(bytes: Uint8Array): void {
    noteBytesMoved(bytes.length);
    this.lastOutputAt = Date.now();
    this.controller.enqueue(bytes);
  }

  /** Resolves on wake(), on end, or after `ms`. */
  private waitForWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.waiter === done) self.waiter = null;
        resolve();
      }
      this.waiter = done;
      if (this.pending || this.ended) done();
    });
  }

  /** Resolves after `ms`, or at once on end (wake-ups do not cut a retry pause short). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.waiter === onWake) self.waiter = null;
        resolve();
      }
      const onWake = () => {
        if (self.ended) done();
      };
      this.waiter = onWake;
    });
  }
}
