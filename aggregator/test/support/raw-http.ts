/**
 * HTTP/1.x over a plain TCP socket, byte for byte as written: fetch and every HTTP client fix
 * up the Host header, dot segments and absolute-form targets before they leave, so the request
 * shapes an attacker can send are only testable this way.
 */
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `head` (request line and headers, CRLF-separated, without the blank line) and `body`,
 * then reads one response: up to Content-Length, to the last chunk, or, for an event stream,
 * only the headers (the connection is then closed by us).
 */
export function rawRequest(port: number, head: string, body = '', timeoutMs = 15_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(
      () => finish(new Error(`no complete response within ${timeoutMs} ms to:\n${head}\nreceived:\n${data.toString('latin1')}`)),
      timeoutMs,
    );
    let done = false;
    const finish = (result: RawResponse | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const isHead = /^HEAD /i.test(head);
    const tryParse = (ended: boolean) => {
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) {
        if (ended) finish(new Error(`connection closed without a response to:\n${head}\nreceived: ${JSON.stringify(data.toString('latin1'))}`));
        return;
      }
      const lines = data.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? Number.NaN);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = data.subarray(end + 4);
      const respond = (text: string) => finish({ status, headers, body: text });
      if (isHead || status === 204 || status === 304) return respond('');
      if (headers['content-type']?.startsWith('text/event-stream')) return respond(rest.toString('utf8'));
      if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (rest.length >= length) return respond(rest.subarray(0, length).toString('utf8'));
      } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        const text = rest.toString('latin1');
        if (text.endsWith('0\r\n\r\n')) return respond(dechunk(rest));
      }
      if (ended) respond(rest.toString('utf8'));
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', (error) => finish(error));
    socket.on('connect', () => socket.write(`${head}\r\n\r\n${body}`, 'latin1'));
  });
}

function dechunk(raw: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    const size = Number.parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    if (!size) break;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts).toString('utf8');
}
