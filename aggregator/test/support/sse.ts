/**
 * Server-Sent Events clients for tests: a parser over any byte stream, a reader over a fetch
 * response body, and a raw-socket subscriber that can stop reading (a deliberately slow client:
 * a fetch body would be buffered by the client runtime and never push back on the server).
 */
import { type Socket, connect } from 'node:net';

export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  comments: string[];
  /** performance.now() when the message was complete. */
  at: number;
}

/** Incremental SSE parser (LF line endings, which is what the aggregator sends). */
export class SseParser {
  private buffer = '';

  /** Feeds text; returns the messages it completed. */
  push(text: string): SseMessage[] {
    this.buffer += text;
    const messages: SseMessage[] = [];
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const message: SseMessage = { comments: [], at: performance.now() };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          message.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'id') message.id = value;
        else if (field === 'event') message.event = value;
      }
      if (data.length > 0) message.data = data.join('\n');
      messages.push(message);
    }
    return messages;
  }
}

/** Reads SSE messages from a fetch Response (in-process `app.handle` or a real server). */
export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private readonly parser = new SseParser();
  private readonly queue: SseMessage[] = [];
  private done = false;

  constructor(response: Response) {
    if (!response.body) throw new Error('response without body');
    this.reader = response.body.getReader();
  }

  /** The next message, or null when the stream ended; throws after `timeoutMs`. */
  async next(timeoutMs = 10_000): Promise<SseMessage | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.done) return null;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no SSE message within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, remaining, 'timeout')));
      const result = await Promise.race([this.reader.read(), timeout]);
      clearTimeout(timer);
      if (result === 'timeout') throw new Error(`no SSE message within ${timeoutMs} ms`);
      if (result.done) this.done = true;
      else this.queue.push(...this.parser.push(this.decoder.decode(result.value, { stream: true })));
    }
    return this.queue.shift()!;
  }

  /** The next message that carries data (skips the opening `id:` and `: ping` comments). */
  async nextEvent(timeoutMs = 10_000): Promise<SseMessage | null> {
    for (;;) {
      const message = await this.next(timeoutMs);
      if (message === null || message.data !== undefined) return message;
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

/** Decodes an HTTP/1.1 chunked body incrementally. */
class ChunkedDecoder {
  private buffer = Buffer.alloc(0);
  ended = false;

  push(bytes: Buffer): Buffer {
    this.buffer = Buffer.concat([this.buffer, bytes]);
    const out: Buffer[] = [];
    for (;;) {
      const lineEnd = this.buffer.indexOf('\r\n');
      if (lineEnd < 0) break;
      const size = Number.parseInt(this.buffer.subarray(0, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        this.ended = true;
        break;
      }
      if (this.buffer.length < lineEnd + 2 + size + 2) break;
      out.push(this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      this.buffer = this.buffer.subarray(lineEnd + 2 + size + 2);
    }
    return Buffer.concat(out);
  }
}

/**
 * GET /subscribe over a raw socket that can pause: while paused the kernel's buffers fill and
 * the server sees a client that does not read.
 */
export class RawSubscriber {
  readonly messages: SseMessage[] = [];
  status: number | null = null;
  ended = false;
  private readonly socket: Socket;
  private head = Buffer.alloc(0);
  private chunked: ChunkedDecoder | null = null;
  private readonly parser = new SseParser();
  private readonly decoder = new TextDecoder();

  constructor(port: number, pathAndQuery: string, headers: Record<string, string> = {}) {
    this.socket = connect(port, '127.0.0.1');
    const lines = [
      `GET ${pathAndQuery} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Accept: text/event-stream',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    this.socket.on('data', (bytes: Buffer) => this.onData(bytes));
    this.socket.on('close', () => void (this.ended = true));
    this.socket.on('error', () => void (this.ended = true));
  }

  /** Stops reading from the socket. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }

  /** Messages that carry data. */
  get events(): SseMessage[] {
    return this.messages.filter((m) => m.data !== undefined);
  }

  private onData(bytes: Buffer): void {
    if (this.chunked === null) {
      this.head = Buffer.concat([this.head, bytes]);
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headText = this.head.subarray(0, end).toString('latin1');
      this.status = Number(headText.split(' ')[1]);
      if (!/transfer-encoding:\s*chunked/i.test(headText)) {
        // Not a stream (an error answer): nothing to parse.
        this.ended = true;
        this.socket.destroy();
        return;
      }
      this.chunked = new ChunkedDecoder();
      bytes = this.head.subarray(end + 4);
    }
    const body = this.chunked.push(bytes);
    this.messages.push(...this.parser.push(this.decoder.decode(body, { stream: true })));
    if (this.chunked.ended) this.ended = true;
  }
}

/** Collects the event_id of every event `reader` receives, in order, until the stream ends. */
export function collectEventIds(reader: SseReader): string[] {
  const ids: string[] = [];
  void (async () => {
    for (;;) {
      const message = await reader.nextEvent(600_000).catch(() => null);
      if (message === null) return;
      ids.push((JSON.parse(message.data!) as { event_id: string }).event_id);
    }
  })();
  return ids;
}
