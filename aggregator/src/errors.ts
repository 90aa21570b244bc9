/**
 * The closed set of errors the API answers with. Routes throw these; app.ts maps them to HTTP in
 * one place. Every body has the contract shape `{ "error": string, "details"?: Detail[] }`.
 */

/** Where a rejected request went wrong: the event's index in the batch and the field. */
export interface Detail {
  index: number | null;
  field: string | null;
  message: string;
}

export abstract class AppError extends Error {
  abstract readonly status: number;
  readonly details?: Detail[];
  /** Seconds, sent as Retry-After. */
  readonly retryAfter?: number;

  toResponse(): Response {
    const body: { error: string; details?: Detail[] } = { error: this.message };
    if (this.details) body.details = this.details;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.retryAfter !== undefined) headers['retry-after'] = String(this.retryAfter);
    return new Response(JSON.stringify(body), { status: this.status, headers });
  }
}

export class ValidationError extends AppError {
  readonly status = 400;
  constructor(
    message: string,
    override readonly details: Detail[] = [],
  ) {
    super(message);
  }
}

/** A schema error as TypeBox and Elysia report it: a JSON pointer and a message. */
export interface SchemaIssue {
  path: string;
  message: string;
  value?: unknown;
}

/**
 * The one translation of schema errors into `details`: nested fields are dotted
 * (`payload.user.id`), one line per field (a failed union member is reported several times),
 * `explain` may replace a message with a more precise one.
 */
export function schemaDetails(
  issues: Iterable<SchemaIssue>,
  index: number | null,
  explain?: (field: string | null, issue: SchemaIssue) => string | null,
): Detail[] {
  const details: Detail[] = [];
  for (const issue of issues) {
    const field = issue.path.replace(/^\//, '').replaceAll('/', '.') || null;
    if (details.some((d) => d.field === field)) continue;
    details.push({ index, field, message: explain?.(field, issue) ?? issue.message });
  }
  return details;
}

export class Unauthorized extends AppError {
  readonly status = 401;
  constructor(message = 'missing or invalid bearer token') {
    super(message);
  }
  override toResponse(): Response {
    const response = super.toResponse();
    response.headers.set('www-authenticate', 'Bearer');
    return response;
  }
}

/** A valid token without the scope the route needs (auth/access.ts). */
export class Forbidden extends AppError {
  readonly status = 403;
}

export class NotFound extends AppError {
  readonly status = 404;
}

/** The path exists, the method does not: `Allow` lists the ones it has (RFC 9110 15.5.6). */
export class MethodNotAllowed extends AppError {
  readonly status = 405;
  constructor(
    method: string,
    path: string,
    readonly allowed: readonly string[],
  ) {
    super(`${method} is not allowed on ${path}; use ${allowed.join(' or ')}`);
  }
  override toResponse(): Response {
    const response = super.toResponse();
    response.headers.set('allow', this.allowed.join(', '));
    return response;
  }
}

export class PayloadTooLarge extends AppError {
  readonly status = 413;
}

/** The body did not arrive within BODY_READ_TIMEOUT_MS; the connection is closed after the answer. */
export class RequestTimeout extends AppError {
  readonly status = 408;

  override toResponse(): Response {
    const response = super.toResponse();
    response.headers.set('connection', 'close');
    return response;
  }
}

export class UnsupportedMediaType extends AppError {
  readonly status = 415;
}

/** Backpressure (the backlog is above MAX_PENDING) or a subscriber cap. */
export class TooManyRequests extends AppError {
  readonly status = 429;
  constructor(
    message: string,
    override readonly retryAfter = 1,
  ) {
    super(message);
  }
}

/** The database cannot be reached, or this replica is draining. Safe to retry elsewhere. */
export class StorageUnavailable extends AppError {
  readonly status = 503;
  constructor(
    message = 'storage unavailable',
    override readonly retryAfter = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * This replica is draining. The 503 also says `Connection: close`: the client's next request on
 * this keep-alive connection would otherwise race the listener closing and see a reset instead
 * of a clean end of connection (a proxy or client then reconnects, to another replica).
 */
export class Draining extends StorageUnavailable {
  constructor() {
    super('this replica is shutting down; retry', 1);
  }
  override toResponse(): Response {
    const response = super.toResponse();
    response.headers.set('connection', 'close');
    return response;
  }
}

// postgres.js reports a lost or refused connection with these codes instead of a SQLSTATE.
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);

const codeOf = (error: unknown): string | null => {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
};

/**
 * Sessions the server ended: 57P01..03 (admin shutdown, crash shutdown, cannot connect now),
 * 25P03 and 57P05 (idle-in-transaction and idle-session timeouts: a transaction whose client was
 * starved of CPU past the timeout, e.g. an ingest statement behind a long decode, is rolled back
 * and its connection closed, so the request stored nothing and may be retried).
 */
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03', '25P03', '57P05']);

/**
 * True when `error` says the connection to the database was lost, refused or ended by the
 * server: postgres.js's own codes, socket errors, SQLSTATE class 08 (connection) and SESSION_ENDED.
 */
export function isConnectionLoss(error: unknown): boolean {
  const code = codeOf(error);
  return code !== null && (CONNECTION_CODES.has(code) || code.startsWith('08') || SESSION_ENDED.has(code));
}

/**
 * True when `error` means the database is (temporarily) out of reach: a connection loss, class
 * 53 (insufficient resources: 53100 disk full, 53200 out of memory, 53300 too many connections),
 * 58030 (I/O error: a full or failing volume under WAL or data), 57014 (statement timeout).
 * 40001/40P01 are not here: the statements that could raise them retry themselves.
 */
export function isUnavailable(error: unknown): boolean {
  const code = codeOf(error);
  if (code === null) return false;
  return (
    isConnectionLoss(error) || code.startsWith('53') || code === '58030' || code === '57014' // statement_timeout / cancelled: the server is too slow to serve us now
  );
}

/** Translates a database error at the boundary: outages become StorageUnavailable. */
export function fromDatabaseError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  if (isUnavailable(error)) {
    // Disk full: nothing frees space within a second; retention or an operator will.
    if ((error as { code?: string }).code === '53100')
      return new StorageUnavailable('storage full: the database cannot write; retry later', 5, { cause: error });
    return new StorageUnavailable('storage unavailable', 1, { cause: error });
  }
  return error;
}

/**
 * A Loki-API request refused (a LogQL parse error, a bad parameter, a query over a bound): 400
 * with a plain-text body, as Loki answers, because Grafana shows that body to the user as is.
 */
export class QueryRejected extends AppError {
  readonly status = 400;
  override toResponse(): Response {
    return new Response(this.message, { status: this.status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }
}
